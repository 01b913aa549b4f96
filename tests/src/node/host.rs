//! What a test cluster may change on the host, read before it starts and compared after it
//! stops: kernel parameters, the netfilter ruleset, links, addresses and routes, mounts, cgroups,
//! the well-known directories of the kubelet, containerd and CNI, and processes.
//!
//! The comparison is the harness's proof that it restored the host; a difference fails the
//! run with what changed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Directories outside the cluster's own that its parts write to whatever their flags say.
const WELL_KNOWN: &[&str] = &[
    "/var/lib/kubelet",
    "/var/log/pods",
    "/var/log/containers",
    "/var/lib/cni",
    "/run/netns",
    "/run/containerd",
    "/var/lib/containerd",
    "/opt/containerd",
    "/etc/cni",
    "/etc/kubernetes",
];

/// Kernel parameters that change by themselves.
const VOLATILE_SYSCTLS: &[&str] = &["kernel/ns_last_pid", "kernel/random/", "fs/binfmt_misc/"];

/// The host as far as a cluster could change it.
#[derive(Clone, PartialEq, Eq)]
pub struct HostState {
    sysctls: BTreeMap<String, String>,
    nft_tables: BTreeSet<String>,
    nft_ruleset: String,
    links: BTreeSet<String>,
    addresses: BTreeSet<String>,
    routes: BTreeSet<String>,
    mounts: BTreeSet<String>,
    cgroups: BTreeSet<String>,
    paths: BTreeMap<String, Option<BTreeSet<String>>>,
}

impl HostState {
    /// Reads the host now.
    pub fn read() -> Self {
        let mut sysctls = BTreeMap::new();
        read_sysctls(Path::new("/proc/sys"), &mut sysctls);
        Self {
            sysctls,
            nft_tables: lines(&run("nft", &["list", "tables"])),
            nft_ruleset: run("nft", &["list", "ruleset"]),
            links: run("ip", &["-o", "link", "show"])
                .lines()
                .filter_map(|l| l.split(": ").nth(1))
                .map(|n| n.split('@').next().unwrap_or(n).to_owned())
                .collect(),
            addresses: run("ip", &["-o", "addr", "show"])
                .lines()
                // "3: eth0    inet 192.0.2.2/24 brd ... valid_lft forever": name and address.
                .map(|l| {
                    l.split_whitespace()
                        .skip(1)
                        .take(3)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect(),
            routes: lines(&run("ip", &["-o", "route", "show", "table", "all"])),
            mounts: std::fs::read_to_string("/proc/self/mountinfo")
                .unwrap_or_default()
                .lines()
                // Mount point, then what is mounted: fields 5 and those after " - ".
                .map(|l| {
                    let point = l.split(' ').nth(4).unwrap_or_default();
                    let what = l.split(" - ").nth(1).unwrap_or_default();
                    let what: Vec<&str> = what.split(' ').take(2).collect();
                    format!("{point} {}", what.join(" "))
                })
                .collect(),
            cgroups: {
                let mut dirs = BTreeSet::new();
                read_dirs(Path::new("/sys/fs/cgroup"), 0, &mut dirs);
                dirs
            },
            paths: WELL_KNOWN
                .iter()
                .map(|p| {
                    let entries = std::fs::read_dir(p).ok().map(|d| {
                        d.filter_map(Result::ok)
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect()
                    });
                    ((*p).to_owned(), entries)
                })
                .collect(),
        }
    }

    /// Netfilter tables that exist now but did not in `self`.
    pub fn new_nft_tables(&self, now: &Self) -> Vec<String> {
        now.nft_tables
            .difference(&self.nft_tables)
            .cloned()
            .collect()
    }

    /// Cgroup directories that exist now but did not in `self`.
    pub fn new_cgroups(&self, now: &Self) -> Vec<String> {
        now.cgroups.difference(&self.cgroups).cloned().collect()
    }

    /// Well-known paths (directories, or entries in them) that exist now but did not in
    /// `self`.
    pub fn new_paths(&self, now: &Self) -> Vec<String> {
        let mut out = Vec::new();
        for (path, was) in &self.paths {
            match (was, now.paths.get(path).cloned().flatten()) {
                (None, Some(_)) => out.push(path.clone()),
                (Some(a), Some(b)) => {
                    out.extend(b.difference(a).map(|e| format!("{path}/{e}")));
                }
                _ => {}
            }
        }
        out
    }

    /// Writes back every kernel parameter that `now` shows changed since `self`; returns what
    /// it restored, as `name: was → is`.
    pub fn restore_sysctls(&self, now: &Self) -> Vec<String> {
        let mut restored = Vec::new();
        for (name, was) in &self.sysctls {
            let Some(is) = now.sysctls.get(name) else {
                continue;
            };
            if is != was {
                let path = Path::new("/proc/sys").join(name);
                match std::fs::write(&path, was) {
                    Ok(()) => restored.push(format!("{name}: {was} → {is}")),
                    Err(e) => restored.push(format!("{name}: could not restore {was}: {e}")),
                }
            }
        }
        restored
    }

    /// What differs between `self` (before) and `now`, one line each; empty when the host is
    /// as it was.
    pub fn differences(&self, now: &Self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, was) in &self.sysctls {
            match now.sysctls.get(name) {
                Some(is) if is != was => out.push(format!("sysctl {name}: {was} → {is}")),
                _ => {}
            }
        }
        if self.nft_ruleset != now.nft_ruleset {
            out.push(format!(
                "netfilter ruleset changed:\n--- before\n{}\n--- after\n{}",
                self.nft_ruleset, now.nft_ruleset
            ));
        }
        set_diff("link", &self.links, &now.links, &mut out);
        set_diff("address", &self.addresses, &now.addresses, &mut out);
        set_diff("route", &self.routes, &now.routes, &mut out);
        set_diff("mount", &self.mounts, &now.mounts, &mut out);
        set_diff("cgroup", &self.cgroups, &now.cgroups, &mut out);
        for (path, was) in &self.paths {
            let is = now.paths.get(path).cloned().flatten();
            match (was, &is) {
                (None, Some(_)) => out.push(format!("{path} was created")),
                (Some(_), None) => out.push(format!("{path} was removed")),
                (Some(a), Some(b)) => set_diff(path, a, b, &mut out),
                (None, None) => {}
            }
        }
        out
    }
}

fn set_diff(
    what: &str,
    before: &BTreeSet<String>,
    after: &BTreeSet<String>,
    out: &mut Vec<String>,
) {
    out.extend(
        after
            .difference(before)
            .map(|x| format!("{what} added: {x}")),
    );
    out.extend(
        before
            .difference(after)
            .map(|x| format!("{what} removed: {x}")),
    );
}

fn lines(text: &str) -> BTreeSet<String> {
    text.lines().map(str::to_owned).collect()
}

/// Runs a host tool and returns its output (empty when it fails: the tool is missing or the
/// object does not exist, both of which the comparison then shows).
pub(crate) fn run(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Every writable kernel parameter under `dir` (read-only ones cannot be changed by a cluster).
fn read_sysctls(dir: &Path, out: &mut BTreeMap<String, String>) {
    use std::os::unix::fs::PermissionsExt as _;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            read_sysctls(&path, out);
            continue;
        }
        let name = path
            .strip_prefix("/proc/sys")
            .unwrap_or(&path)
            .display()
            .to_string();
        if meta.permissions().mode() & 0o200 == 0
            || VOLATILE_SYSCTLS.iter().any(|v| name.starts_with(v))
        {
            continue;
        }
        if let Ok(value) = std::fs::read_to_string(&path) {
            out.insert(name, value.trim().to_owned());
        }
    }
}

/// Directories of the cgroup hierarchies (controllers' files are not read).
fn read_dirs(dir: &Path, depth: usize, out: &mut BTreeSet<String>) {
    if depth > 8 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            let path = entry.path();
            out.insert(path.display().to_string());
            read_dirs(&path, depth + 1, out);
        }
    }
}
