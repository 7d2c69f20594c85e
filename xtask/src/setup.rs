//! The system packages every build, `cargo xtask test` and `cargo xtask
//! bench` need, in one list, and their installation: as root on Debian/Ubuntu they are
//! installed with apt-get; otherwise the missing ones are named with the
//! command that installs them, and xtask stops.
//!
//! To add a package: one `Package` line in `PACKAGES`, with a comment
//! saying which tests need it.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

use crate::command::{is_root, run};

/// The xtask jobs that need system packages.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Job {
    /// Building the eBPF object and the tracer (and the unit tests).
    Build,
    /// `cargo xtask test`: the build, then the end-to-end tests.
    Test,
    /// `cargo xtask bench`: the build, then the benchmark.
    Bench,
}

impl fmt::Display for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            // `run`, `build`, `dist` and `build-ebpf` all build.
            Job::Build => "building the tracer",
            Job::Test => "`cargo xtask test`",
            Job::Bench => "`cargo xtask bench`",
        })
    }
}

/// Which jobs need a package.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Need {
    /// Every job that builds.
    Build,
    /// The end-to-end tests.
    E2e,
    /// The benchmark.
    Bench,
    /// The end-to-end tests and the benchmark.
    E2eAndBench,
}

impl Need {
    fn applies_to(self, job: Job) -> bool {
        match self {
            Need::Build => true,
            Need::E2e => job == Job::Test,
            Need::Bench => job == Job::Bench,
            Need::E2eAndBench => matches!(job, Job::Test | Job::Bench),
        }
    }
}

/// The containerd-over-CRI end-to-end tests (`tests/tests/e2e/containerd.rs`).
const CONTAINERD_TESTS: Need = Need::E2e;
/// The docker (dockerd over its own containerd) end-to-end tests
/// (`tests/tests/e2e/docker.rs`).
const DOCKER_TESTS: Need = Need::E2e;

/// A Debian/Ubuntu package.
#[derive(Debug, PartialEq, Eq)]
pub struct Package {
    pub name: &'static str,
    /// A command (looked up in PATH, /usr/sbin, /sbin) or an absolute path it
    /// installs: where there is no dpkg, its presence stands for the package.
    provides: &'static str,
    need: Need,
}

const fn pkg(name: &'static str, provides: &'static str, need: Need) -> Package {
    Package {
        name,
        provides,
        need,
    }
}

pub const PACKAGES: &[Package] = &[
    // bpf-linker is built from crates.io on first use: llvm-sys compiles C++.
    pkg("build-essential", "g++", Need::Build),
    // cargo and apt fetch over HTTPS.
    pkg("ca-certificates", "update-ca-certificates", Need::Build),
    // `protoc`: the k8s-cri crate (the tracer's CRI client, for pod names,
    // and the e2e tests') compiles its protos at build time.
    pkg("protobuf-compiler", "protoc", Need::Build),
    // e2e `podman_pods`, `podman_harness`; bench `pods`.
    pkg("podman", "podman", Need::E2eAndBench),
    // A podman pod's infra container runs `/catatonit -P` (podman only recommends it).
    pkg("catatonit", "catatonit", Need::E2eAndBench),
    // The OCI runtime podman runs containers with here (crun is the other choice).
    pkg("runc", "runc", Need::E2eAndBench),
    // /bin/busybox, static: the only binary of the podman tests' image; bench
    // `fork-exec` execs it.
    pkg("busybox-static", "busybox", Need::E2eAndBench),
    // newuidmap/newgidmap: podman pods with user-namespace mappings
    // (`--uidmap`, issue 9's tests); podman recommends it.
    pkg("uidmap", "newuidmap", Need::E2e),
    // `ip netns`: the pinned-netns tests of issue 8 (`ip netns add/exec/del`),
    // and a look at a pod's netns by hand when a podman test fails.
    pkg("iproute2", "ip", Need::E2e),
    // e2e `timeline`: the HTML timeline drawn headless (`--dump-dom`, `--screenshot`).
    pkg("chromium", "chromium", Need::E2e),
    // e2e `metrics`: a real Prometheus scrapes `tracer --metrics`.
    pkg("prometheus", "prometheus", Need::E2e),
    // The bench's peer on the same tracepoints.
    pkg("bpftrace", "bpftrace", Need::Bench),
    // The bench's replay counts its instructions per event (cachegrind).
    pkg("valgrind", "valgrind", Need::Bench),
    // e2e `containerd`: containerd driven over CRI as the kubelet does.
    pkg("containerd", "containerd", CONTAINERD_TESTS),
    // e2e `containerd`: the bridge and host-local CNI plugins (/usr/lib/cni).
    pkg(
        "containernetworking-plugins",
        "/usr/lib/cni/bridge",
        CONTAINERD_TESTS,
    ),
    // e2e `docker`: dockerd with its own containerd.
    pkg("docker.io", "dockerd", DOCKER_TESTS),
];

/// The packages `job` needs.
pub fn wanted(job: Job) -> Vec<&'static Package> {
    PACKAGES.iter().filter(|p| p.need.applies_to(job)).collect()
}

/// What is installed, as far as we can tell.
pub enum Installed<'a> {
    /// `dpkg-query -W -f '${Package}\t${db:Status-Status}\n'` output.
    Dpkg(&'a str),
    /// No dpkg: whether a command or path exists.
    Files(&'a dyn Fn(&str) -> bool),
}

/// Package names dpkg lists as installed.
fn dpkg_installed(text: &str) -> BTreeSet<&str> {
    text.lines()
        .filter_map(|l| {
            let (name, status) = l.split_once('\t')?;
            // `name:arch` for multi-arch packages.
            let name = name.split(':').next().unwrap_or(name);
            (status.trim() == "installed").then_some(name)
        })
        .collect()
}

/// The packages of `wanted` that are not installed.
pub fn missing<'p>(wanted: &[&'p Package], installed: &Installed) -> Vec<&'p Package> {
    match installed {
        Installed::Dpkg(text) => {
            let have = dpkg_installed(text);
            wanted
                .iter()
                .copied()
                .filter(|p| !have.contains(p.name))
                .collect()
        }
        Installed::Files(exists) => wanted
            .iter()
            .copied()
            .filter(|p| !exists(p.provides))
            .collect(),
    }
}

/// A command in PATH (or the sbin directories) or an absolute path exists.
fn found(what: &str) -> bool {
    if what.starts_with('/') {
        return Path::new(what).exists();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(Into::into))
        .any(|d| d.join(what).is_file())
}

/// The dpkg database, or `None` where there is no dpkg.
fn dpkg_status() -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Package}\\t${db:Status-Status}\\n"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn names(p: &[&Package]) -> String {
    p.iter().map(|p| p.name).collect::<Vec<_>>().join(" ")
}

/// Make sure `job`'s packages are installed: install the missing ones (root
/// with apt-get), or stop with one line naming them and how to install them.
pub fn ensure(job: Job) -> Result<()> {
    let wanted = wanted(job);
    let dpkg = dpkg_status();
    let installed = match &dpkg {
        Some(text) => Installed::Dpkg(text),
        None => Installed::Files(&found),
    };
    let missing = missing(&wanted, &installed);
    if missing.is_empty() {
        return Ok(());
    }
    let list = names(&missing);
    if dpkg.is_none() || !found("apt-get") {
        bail!(
            "{job} needs these Debian packages, and this is no Debian/Ubuntu \
             system: install their equivalents, then run it again: {list}"
        );
    }
    if !is_root() {
        bail!(
            "{job} needs these packages: {list}; install them with \
             `sudo apt-get install -y --no-install-recommends {list}` \
             (as root, xtask installs them itself)"
        );
    }
    println!("xtask: installing with apt-get (for {job}): {list}");
    let apt = |args: &[&str]| {
        let mut c = Command::new("apt-get");
        c.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        run(&mut c)
    };
    apt(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(missing.iter().map(|p| p.name));
    apt(&install)?;
    let still = self::missing(
        &wanted,
        &Installed::Dpkg(&dpkg_status().unwrap_or_default()),
    );
    if !still.is_empty() {
        bail!(
            "apt-get install succeeded but these are still not installed: {}",
            names(&still)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `dpkg-query -W -f '${Package}\t${db:Status-Status}\n'` on a machine
    /// with podman and containerd but without bpftrace or protoc, runc half-removed.
    const DPKG: &str = "adduser\tinstalled\n\
        build-essential\tinstalled\n\
        busybox-static\tinstalled\n\
        ca-certificates\tinstalled\n\
        catatonit\tinstalled\n\
        containerd\tinstalled\n\
        containernetworking-plugins\tinstalled\n\
        chromium\tinstalled\n\
        iproute2\tinstalled\n\
        libc6:amd64\tinstalled\n\
        podman\tinstalled\n\
        prometheus\tinstalled\n\
        runc\tconfig-files\n\
        uidmap:amd64\tinstalled\n\
        bpftrace\tnot-installed\n";

    fn missing_names(job: Job, installed: &Installed) -> Vec<&'static str> {
        missing(&wanted(job), installed)
            .iter()
            .map(|p| p.name)
            .collect()
    }

    #[test]
    fn missing_packages_from_dpkg() {
        assert_eq!(
            missing_names(Job::Test, &Installed::Dpkg(DPKG)),
            ["protobuf-compiler", "runc", "docker.io"]
        );
        assert_eq!(
            missing_names(Job::Bench, &Installed::Dpkg(DPKG)),
            ["protobuf-compiler", "runc", "bpftrace", "valgrind"]
        );
        assert_eq!(
            missing_names(Job::Build, &Installed::Dpkg(DPKG)),
            ["protobuf-compiler"]
        );
        assert_eq!(
            missing_names(Job::Build, &Installed::Dpkg("")),
            ["build-essential", "ca-certificates", "protobuf-compiler"]
        );
    }

    #[test]
    fn missing_packages_without_dpkg() {
        let exists =
            |what: &str| matches!(what, "g++" | "update-ca-certificates" | "protoc" | "podman");
        assert_eq!(
            missing_names(Job::Test, &Installed::Files(&exists)),
            [
                "catatonit",
                "runc",
                "busybox-static",
                "uidmap",
                "iproute2",
                "chromium",
                "prometheus",
                "containerd",
                "containernetworking-plugins",
                "docker.io"
            ]
        );
    }

    #[test]
    fn every_job_gets_the_build_packages_and_only_its_own() {
        for job in [Job::Build, Job::Test, Job::Bench] {
            let w = wanted(job);
            assert!(w.iter().any(|p| p.name == "build-essential"), "{job}");
            assert_eq!(w.iter().any(|p| p.name == "bpftrace"), job == Job::Bench);
            assert_eq!(w.iter().any(|p| p.name == "podman"), job != Job::Build);
            // Only the end-to-end tests run a private dockerd.
            assert_eq!(w.iter().any(|p| p.name == "docker.io"), job == Job::Test);
        }
        let names: BTreeSet<&str> = PACKAGES.iter().map(|p| p.name).collect();
        assert_eq!(names.len(), PACKAGES.len(), "a package listed twice");
    }
}
