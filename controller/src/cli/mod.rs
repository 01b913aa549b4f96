//! The `portcullis` command line: one binary, one subcommand per mode.

mod inspect_ca;
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
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the CustomResourceDefinitions (SslProfile, Listener) as YAML.
    Crds,
    /// Check manifests (SslProfile, Listener, Secret, Service, EndpointSlice) offline, with the
    /// same rules the controller applies. Exit 0 when clean, 1 when anything would be refused.
    Validate {
        /// Files or directories of YAML, as `kubectl apply -f` takes them.
        #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
        paths: Vec<PathBuf>,
    },
    /// Serve manifests without a cluster: read the YAML you would `kubectl apply`
    /// (SslProfile, Listener, Secret, Service, EndpointSlice), serve it, and reload on change.
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
    },
    /// Run the controller in a cluster: watch SslProfiles, Listeners and what they reference,
    /// translate them, and write their status. Connects with the kubeconfig in KUBECONFIG or
    /// ~/.kube/config, or the in-cluster service account.
    Controller {
        /// The field manager of status writes (server-side apply).
        #[arg(long, default_value = crate::controller::status::FIELD_MANAGER)]
        field_manager: String,
    },
    /// Explain a client CA bundle: its chains, certificates, the issuer DN that
    /// verifyClientCertIssuerDN would enforce, and what is wrong with it. Exit 1 when it would
    /// be refused.
    InspectCa {
        /// A PEM or DER file, as it would go in a Secret's `ca.crt`.
        file: PathBuf,
    },
}

/// Runs the command line; the exit code says whether the input was clean.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Crds => {
            print!("{}", crate::api::crds_yaml()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { paths } => validate::run(&paths),
        Command::InspectCa { file } => inspect_ca::run(&file),
        Command::Controller { field_manager } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let client = kube::Client::try_default().await?;
                crate::controller::run(
                    client,
                    crate::controller::ControllerOptions { field_manager },
                )
                .await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            paths,
            bind,
            admin,
            poll_ms,
            no_access_log,
        } => run::run(run::RunOptions {
            paths,
            bind,
            admin,
            poll: std::time::Duration::from_millis(poll_ms),
            access_log: !no_access_log,
        }),
    }
}
