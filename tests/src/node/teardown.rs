//! Stopping the test cluster and restoring the host: pods first (so the kubelet tears their
//! networks down through CNI), then the node agents, kube-proxy's rules, whatever containers
//! and shims this cluster's containerd still has, the control plane; then mounts, the bridge,
//! the node address, netfilter tables, kernel parameters, cgroups and the well-known
//! directories — each only where it was not there before.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::Node;
use super::config::{BRIDGE, NODE_IP};
use super::host::{HostState, run};

impl Node {
    /// Stops every part and restores the host; returns what still differs from before the
    /// start (empty when the host is as it was).
    pub fn teardown(mut self) -> Vec<String> {
        self.stop_and_restore()
    }

    pub(super) fn stop_and_restore(&mut self) -> Vec<String> {
        let Some(dir) = self.dir.take() else {
            return Vec::new();
        };
        self.stop("kube-controller-manager");
        self.stop("kube-scheduler");
        self.delete_pods();
        self.stop("kubelet");
        self.stop("kube-proxy");
        let _ = Command::new(self.bin.join("kube-proxy"))
            .args(["--cleanup", "--proxy-mode=iptables"])
            .output();
        kill_started_by(&dir.path().display().to_string());
        for name in ["containerd", "kube-apiserver", "kine"] {
            self.stop(name);
        }
        let root = dir.path().display().to_string();
        unmount_under(&root);
        if run("ip", &["-o", "link", "show"]).contains(&format!(" {BRIDGE}:")) {
            let _ = Command::new("ip").args(["link", "del", BRIDGE]).output();
        }
        let _ = Command::new("ip")
            .args(["addr", "del", &format!("{NODE_IP}/32"), "dev", "lo"])
            .output();
        let contained = run("nft", &["list", "table", "ip", super::CONTAIN_TABLE]);
        if let Some(packets) = contained
            .split("packets ")
            .nth(1)
            .and_then(|p| p.split_whitespace().next())
            .filter(|p| *p != "0")
        {
            eprintln!("{packets} packets from pods bound off the machine were dropped");
        }
        let now = HostState::read();
        for table in self.before.new_nft_tables(&now) {
            let words: Vec<&str> = table.split_whitespace().collect();
            let mut args = vec!["delete"];
            args.extend(&words);
            let _ = Command::new("nft").args(&args).output();
        }
        let restored = self.before.restore_sysctls(&now);
        if !restored.is_empty() {
            eprintln!("restored kernel parameters: {}", restored.join("; "));
        }
        self.remove_new_cgroups_and_paths(&now);
        let mut differences = self.before.differences(&HostState::read());
        differences.extend(
            processes_mentioning(&root)
                .into_iter()
                .map(|(pid, cmd)| format!("process {pid} still runs: {cmd}")),
        );
        if differences.is_empty() {
            drop(dir);
        } else {
            // Kept for the post-mortem: its logs say what did not stop.
            eprintln!("test cluster logs kept in {}", dir.keep().display());
        }
        differences
    }

    /// Deletes every pod (the controllers that would recreate them are stopped) and waits
    /// until the kubelet has stopped their containers and sandboxes.
    fn delete_pods(&self) {
        let _ = self.kubectl(&[
            "delete",
            "pods",
            "--all",
            "--all-namespaces",
            "--force",
            "--grace-period=0",
            "--wait=false",
        ]);
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            let tasks = self.ctr(&["tasks", "ls", "-q"]);
            if tasks.status.success() && tasks.stdout.iter().all(u8::is_ascii_whitespace) {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        eprintln!("the kubelet did not stop every container in 90 s: stopping them by PID");
    }

    /// Stops the process this harness started as `name`, by its PID.
    fn stop(&mut self, name: &str) {
        for (n, child) in &mut self.processes {
            if *n == name {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    fn remove_new_cgroups_and_paths(&self, now: &HostState) {
        let mut dirs: Vec<String> = self.before.new_cgroups(now);
        // Children before parents.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.len()));
        for d in dirs {
            let _ = std::fs::remove_dir(&d);
        }
        for path in self.before.new_paths(now) {
            let p = Path::new(&path);
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(p)
            } else {
                std::fs::remove_file(p)
            };
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let differences = self.stop_and_restore();
        if !differences.is_empty() {
            eprintln!("the host is not as it was:\n{}", differences.join("\n"));
        }
    }
}

/// Processes whose command line names `root` (containerd's shims carry its socket path), and
/// everything they started (the containers), stopped children first.
fn kill_started_by(root: &str) {
    let shims: Vec<u32> = processes_mentioning(root)
        .into_iter()
        .map(|(pid, _)| pid)
        .collect();
    let mut doomed = Vec::new();
    for shim in &shims {
        descendants(*shim, &mut doomed);
    }
    doomed.extend(&shims);
    for pid in doomed {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .output();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_mentioning(root).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Children of `pid`, grandchildren first.
fn descendants(pid: u32, out: &mut Vec<u32>) {
    for (child, parent) in parents() {
        if parent == pid {
            descendants(child, out);
            out.push(child);
        }
    }
}

/// (pid, parent pid) of every process.
fn parents() -> Vec<(u32, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "pid (comm) state ppid …": comm may hold spaces, so read after the last ')'.
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, ppid))
        })
        .collect()
}

/// (pid, command line) of processes whose command line contains `needle`, but this one.
fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let me = std::process::id();
    parents()
        .into_iter()
        .filter(|(pid, _)| *pid != me)
        .filter_map(|(pid, _)| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(needle).then_some((pid, cmd))
        })
        .collect()
}

/// Unmounts every mount under `root`, deepest first.
fn unmount_under(root: &str) {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<&str> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(root))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let ok = Command::new("umount")
            .arg(p)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            let _ = Command::new("umount").args(["-l", p]).output();
        }
    }
}
