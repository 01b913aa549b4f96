//! The `portcullis` command line: one binary, one subcommand per mode.

mod dataplane;
mod inspect_ca;
pub mod log;
mod run;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Portcullis: a Kubernetes ingress controller for mutual TLS at the edge.
#[derive(Parser, Debug)]
#[command(name = "portcullis", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Operational log format on stderr: text or json.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "PORTCULLIS_LOG_FORMAT",
        default_value_t
    )]
    pub log_format: log::LogFormat,
    /// Least severe operational log level: error, warn, info or debug.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "PORTCULLIS_LOG_LEVEL",
        default_value_t
    )]
    pub log_level: log::LogLevel,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the CustomResourceDefinitions (SslProfile, Listener) as YAML.
    Crds,
    /// Check manifests (SslProfile, Listener, Ingress, IngressClass, Secret, Service,
    /// EndpointSlice) offline, with the same rules the controller applies: also what of
    /// ingress-nginx's annotations does not carry over. Exit 0 when clean, 1 when anything
    /// would be refused.
    Validate {
        /// Files or directories of YAML, as `kubectl apply -f` takes them.
        #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
        paths: Vec<PathBuf>,
        /// Which Ingresses are served, and how.
        #[command(flatten)]
        ingress: IngressArgs,
    },
    /// Serve manifests without a cluster: read the YAML you would `kubectl apply`
    /// (SslProfile, Listener, Ingress, IngressClass, Secret, Service, EndpointSlice), serve it,
    /// and reload on change.
    Run {
        /// Files or directories of YAML.
        #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
        paths: Vec<PathBuf>,
        /// Address the Listener ports bind on.
        #[arg(long, default_value = "0.0.0.0")]
        bind: std::net::IpAddr,
        /// Address of the admin server (/healthz, /readyz, /metrics).
        #[arg(long, default_value = "127.0.0.1:9901")]
        admin: std::net::SocketAddr,
        /// How often the files are checked for changes, in milliseconds.
        #[arg(long, default_value_t = 500)]
        poll_ms: u64,
        /// Do not write the JSON access log to stdout.
        #[arg(long)]
        no_access_log: bool,
        /// What one client may hold.
        #[command(flatten)]
        limits: LimitArgs,
        /// Which Ingresses are served, and how.
        #[command(flatten)]
        ingress: IngressArgs,
    },
    /// Run the controller in a cluster: watch SslProfiles, Listeners, Ingresses and what they
    /// reference, translate them, and write their status. Connects with the kubeconfig in
    /// KUBECONFIG or ~/.kube/config, or the in-cluster service account.
    Controller {
        /// The field manager of status writes (server-side apply).
        #[arg(long, default_value = crate::runtime::status::FIELD_MANAGER)]
        field_manager: String,
        /// The controller's namespace, holding its Lease and the push channel's Secrets.
        #[arg(long, env = "POD_NAMESPACE", default_value = "portcullis-system")]
        namespace: String,
        /// The Service (`name` in the controller's namespace, or `namespace/name`) whose
        /// EndpointSlices list the dataplane replicas.
        #[arg(long, default_value = "portcullis-dataplane-push")]
        dataplane_service: String,
        /// The name of the push port in those EndpointSlices.
        #[arg(long, default_value = "push")]
        push_port_name: String,
        /// The leader election Lease.
        #[arg(long, default_value = "portcullis-controller")]
        lease: String,
        /// This replica's identity in the Lease (default: the pod name and process ID).
        #[arg(long, env = "POD_NAME")]
        identity: Option<String>,
        /// Address of /healthz, /readyz and /metrics (off when unset).
        #[arg(long)]
        admin: Option<std::net::SocketAddr>,
        /// Watch only these namespaces (comma-separated) instead of all: their SslProfiles,
        /// Listeners, Ingresses, Secrets, Services and EndpointSlices.
        #[arg(long, env = "WATCH_NAMESPACES", value_delimiter = ',')]
        watch_namespaces: Vec<String>,
        /// The Service (`name` in the controller's namespace, or `namespace/name`) whose
        /// addresses go to the status of served Ingresses (ingress-nginx's
        /// `--publish-service`); empty for none.
        #[arg(long, default_value = "portcullis-dataplane")]
        publish_service: String,
        /// Which Ingresses are served, and how.
        #[command(flatten)]
        ingress: IngressArgs,
    },
    /// Run a dataplane replica in a cluster: serve the snapshots the controller pushes over the
    /// mutually authenticated push channel, keep the last one on disk and serve it after a
    /// restart.
    Dataplane {
        /// Address the Listener ports bind on.
        #[arg(long, default_value = "0.0.0.0")]
        bind: std::net::IpAddr,
        /// Address of the admin server (/healthz, /readyz, /metrics).
        #[arg(long, default_value = "0.0.0.0:9901")]
        admin: std::net::SocketAddr,
        /// Address of the push channel the controller connects to.
        #[arg(long, default_value = "0.0.0.0:9443")]
        push_listen: std::net::SocketAddr,
        /// Directory of the mounted push Secret (tls.crt, tls.key, ca.crt) the controller
        /// issues; reloaded when it changes.
        #[arg(long, default_value = "/var/run/portcullis/push-tls")]
        push_tls_dir: PathBuf,
        /// Directory where the last snapshot is kept.
        #[arg(long, default_value = "/var/lib/portcullis")]
        state_dir: PathBuf,
        /// Directory of the mounted Secret in which the controller publishes the last snapshot
        /// (`snapshot.json`): served at start when the state directory holds none.
        #[arg(long)]
        seed_dir: Option<PathBuf>,
        /// Seconds open connections may take to finish after SIGTERM.
        #[arg(long, default_value_t = 20)]
        drain_seconds: u64,
        /// Do not write the JSON access log to stdout.
        #[arg(long)]
        no_access_log: bool,
        /// What one client may hold.
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Explain a client CA bundle: its chains, certificates, the issuer DN that
    /// verifyClientCertIssuerDN would enforce, and what is wrong with it. Exit 1 when it would
    /// be refused.
    InspectCa {
        /// A PEM or DER file, as it would go in a Secret's `ca.crt`.
        file: PathBuf,
    },
}

/// Which Ingresses Portcullis serves and how (`validate`, `run`, `controller`).
#[derive(clap::Args, Debug, Clone)]
pub struct IngressArgs {
    /// The `spec.controller` of the IngressClasses whose Ingresses Portcullis serves.
    #[arg(long, default_value = crate::translate::INGRESS_CONTROLLER)]
    pub ingress_controller: String,
    /// Also serve Ingresses of class `nginx` (ingress-nginx's), for a migration host by host.
    #[arg(long, env = "PORTCULLIS_SERVE_NGINX_CLASS")]
    pub serve_nginx_class: bool,
    /// The prefix of ingress-nginx's annotations (its `--annotations-prefix`).
    #[arg(long, default_value = crate::translate::NGINX_ANNOTATION_PREFIX)]
    pub annotations_prefix: String,
    /// The port Ingress rules are served on over plain HTTP.
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u16).range(1..))]
    pub ingress_http_port: u16,
    /// The port Ingress hosts in `spec.tls` are served on over HTTPS.
    #[arg(long, default_value_t = 443, value_parser = clap::value_parser!(u16).range(1..))]
    pub ingress_https_port: u16,
}

impl From<IngressArgs> for crate::translate::IngressOptions {
    fn from(a: IngressArgs) -> Self {
        Self {
            controller: a.ingress_controller,
            serve_nginx_class: a.serve_nginx_class,
            annotation_prefix: a.annotations_prefix.trim_end_matches('/').to_owned(),
            http_port: a.ingress_http_port,
            https_port: a.ingress_https_port,
        }
    }
}

/// The gateway's defaults, explained where they are made (`dataplane::proxy::Limits`).
const DEFAULT_LIMITS: ::dataplane::proxy::Limits = ::dataplane::proxy::Limits::DEFAULT;

/// What one client may hold (`run` and `dataplane`).
#[derive(clap::Args, Debug)]
pub struct LimitArgs {
    /// Seconds a client has to complete the TLS handshake.
    #[arg(long, default_value_t = DEFAULT_LIMITS.handshake_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub handshake_timeout_seconds: u64,
    /// Seconds a client has to send a request's headers, counted from when the connection
    /// waits for them (for HTTP/1.1 also the wait for the next request on a kept-alive
    /// connection).
    #[arg(long, default_value_t = DEFAULT_LIMITS.header_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_seconds: u64,
    /// Seconds a connection may sit with no request in flight and no bytes moving.
    #[arg(long, default_value_t = DEFAULT_LIMITS.idle_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_seconds: u64,
    /// Bytes of request line and headers (at least 8192); larger requests get 431.
    #[arg(long, default_value_t = DEFAULT_LIMITS.max_header_bytes, value_parser = at_least(8192))]
    pub max_header_bytes: usize,
    /// Header fields per HTTP/1.1 request; more get 431.
    #[arg(long, default_value_t = DEFAULT_LIMITS.max_headers, value_parser = at_least(1))]
    pub max_headers: usize,
    /// Open client connections on all Listener ports together; more are closed at once.
    #[arg(long, default_value_t = DEFAULT_LIMITS.max_connections, value_parser = at_least(1))]
    pub max_connections: usize,
    /// Concurrent streams per HTTP/2 connection.
    #[arg(long, default_value_t = DEFAULT_LIMITS.max_concurrent_streams, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_streams: u32,
}

/// A `usize` flag of at least `min`.
fn at_least(min: usize) -> impl Fn(&str) -> Result<usize, String> + Clone {
    move |s| match s.parse::<usize>() {
        Ok(n) if n >= min => Ok(n),
        Ok(n) => Err(format!("{n} is below the minimum, {min}")),
        Err(e) => Err(e.to_string()),
    }
}

impl From<LimitArgs> for ::dataplane::proxy::Limits {
    fn from(a: LimitArgs) -> Self {
        use std::time::Duration;
        Self {
            handshake_timeout: Duration::from_secs(a.handshake_timeout_seconds),
            header_timeout: Duration::from_secs(a.header_timeout_seconds),
            idle_timeout: Duration::from_secs(a.idle_timeout_seconds),
            max_header_bytes: a.max_header_bytes,
            max_headers: a.max_headers,
            max_connections: a.max_connections,
            max_concurrent_streams: a.max_concurrent_streams,
        }
    }
}

/// Runs the command line; the exit code says whether the input was clean.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    log::init(cli.log_format, cli.log_level);
    match cli.command {
        Command::Crds => {
            print!("{}", crate::api::crds_yaml()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { paths, ingress } => validate::run(&paths, ingress.into()),
        Command::InspectCa { file } => inspect_ca::run(&file),
        Command::Controller {
            field_manager,
            namespace,
            dataplane_service,
            push_port_name,
            lease,
            identity,
            admin,
            watch_namespaces,
            publish_service,
            ingress,
        } => {
            let (svc_namespace, svc_name) = match dataplane_service.split_once('/') {
                Some((ns, name)) => (ns.to_owned(), name.to_owned()),
                None => (namespace.clone(), dataplane_service),
            };
            // The pod name is unique in a Deployment; the process ID tells a restarted
            // container from its predecessor.
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "portcullis".into());
            let identity = format!("{}_{}", identity.unwrap_or(host), std::process::id());
            let publish_service = match publish_service.split_once('/') {
                _ if publish_service.is_empty() => None,
                Some((ns, name)) => Some((ns.to_owned(), name.to_owned())),
                None => Some((namespace.clone(), publish_service)),
            };
            let opts = crate::runtime::ControllerOptions {
                field_manager,
                namespace,
                dataplanes: crate::runtime::push::DataplaneService {
                    namespace: svc_namespace,
                    name: svc_name,
                    port_name: push_port_name,
                },
                lease,
                identity,
                admin,
                watch_namespaces: watch_namespaces
                    .into_iter()
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty())
                    .collect(),
                ingress: ingress.into(),
                publish_service,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let client = kube::Client::try_default().await?;
                crate::runtime::run(client, opts).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dataplane {
            bind,
            admin,
            push_listen,
            push_tls_dir,
            state_dir,
            seed_dir,
            drain_seconds,
            no_access_log,
            limits,
        } => dataplane::run(dataplane::DataplaneOptions {
            bind,
            admin,
            push: push_listen,
            push_tls_dir,
            state_dir,
            seed_dir,
            access_log: !no_access_log,
            drain: std::time::Duration::from_secs(drain_seconds),
            limits: limits.into(),
        }),
        Command::Run {
            paths,
            bind,
            admin,
            poll_ms,
            no_access_log,
            limits,
            ingress,
        } => run::run(run::RunOptions {
            paths,
            bind,
            admin,
            poll: std::time::Duration::from_millis(poll_ms),
            access_log: !no_access_log,
            limits: limits.into(),
            ingress: ingress.into(),
        }),
    }
}
