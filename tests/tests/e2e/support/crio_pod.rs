//! A whole CRI-O pod with real runc, as issue 8 measured it: pins made by a
//! pinns-like step, with or without an infra container (`drop_infra_ctr`),
//! two containers joining the pins in either order, then StopPodSandbox and
//! RemovePodSandbox (infra stopped, pins unmounted). Ground truth from
//! /proc, `runc state` and the clock around each step; cleanup on failure
//! too (Drop guards: runc delete, umount, rm).

use std::thread;
use std::time::Duration;

use super::host::{Scratch, Window, ns_inum};
use super::pins::{PIN_KINDS, PinTruth, Pins};
use super::runc::{CtrTruth, Runc, Running, Spec};

/// With or without an infra container (`drop_infra_ctr = true` is CRI-O's default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Infra {
    None,
    Pause,
}

/// The order of the pod's two containers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// An init container's order: the short one runs and exits, then the long one.
    ShortFirst,
    /// The long one runs; the short one starts and exits while it runs.
    Overlapping,
}

/// How long the short container lives (`sleep`), and how long the long one
/// runs before the pod is stopped.
pub const SHORT_S: &str = "0.3";
const SHORT_NS: u64 = 300_000_000;
const LONG_HOLD: Duration = Duration::from_millis(800);
/// Between the pod's last task gone and the pins' unmount: CNI DEL and the
/// runtime's bookkeeping take this long or more on a real node, and it
/// keeps "ended at the last exit" and "ended at the unmount" apart.
pub const REMOVE_GAP: Duration = Duration::from_millis(300);

/// A CRI-O pod: pins, maybe an infra, containers. Fields drop in order:
/// containers, then pins, then the directory.
pub struct CrioPod {
    pub runc: Runc,
    pub pins: Pins,
    pub infra: Option<Running>,
    _scratch: Scratch,
}

/// Ground truth of a whole CRI-O pod's life.
#[derive(Debug)]
pub struct CrioPodTruth {
    pub pod_uid: String,
    /// The `unshare` that made the namespaces.
    pub creator_pid: u32,
    pub created: Window,
    pub pins: Vec<PinTruth>,
    pub infra: Option<CtrTruth>,
    /// In the order they started.
    pub containers: Vec<CtrTruth>,
    /// Our mount namespace (the host's, where the pins live).
    pub host_mnt: u64,
    /// Our pid: who unmounted the pins.
    pub remover_pid: u32,
}

impl CrioPodTruth {
    pub fn pin(&self, kind: &str) -> &PinTruth {
        self.pins
            .iter()
            .find(|p| p.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} pin"))
    }

    /// Around the unmount of the last pin removed.
    pub fn last_removed(&self) -> Window {
        self.pins
            .iter()
            .filter_map(|p| p.removed)
            .max_by_key(|w| w.from_ns)
            .expect("the pins were removed")
    }
}

impl CrioPod {
    /// RunPodSandbox: pins, then (with an infra) the pause joining them.
    pub fn new(infra: Infra) -> CrioPod {
        let scratch = Scratch::new();
        let pins = Pins::create(&scratch.dir);
        let mut runc = Runc::new(&scratch.dir);
        let infra = (infra == Infra::Pause).then(|| {
            let spec = Self::joining_pins(&pins, Spec::new("POD", "sandbox", &["/pause"]));
            runc.create_and_start(&spec)
        });
        CrioPod {
            runc,
            pins,
            infra,
            _scratch: scratch,
        }
    }

    fn joining_pins(pins: &Pins, mut spec: Spec) -> Spec {
        for kind in PIN_KINDS {
            spec = spec.joining(kind, pins.path(kind));
        }
        spec
    }

    /// A container joining the pins (CRI-O gives containers the pin paths
    /// whether or not there is an infra), own mnt and pid.
    pub fn container(&self, name: &str, args: &[&str]) -> Spec {
        Self::joining_pins(&self.pins, Spec::new(name, "container", args))
    }

    pub fn pause_pid(&self) -> Option<u32> {
        self.infra.as_ref().map(|r| r.pid)
    }

    /// StopPodSandbox + RemovePodSandbox: the infra gets SIGTERM (our
    /// pause exits 0), then, [`REMOVE_GAP`] later, the pins are unmounted
    /// and removed.
    pub fn stop_and_remove(mut self, containers: Vec<CtrTruth>) -> CrioPodTruth {
        let infra = self.infra.take().map(|r| self.runc.kill(r, "TERM", 0));
        thread::sleep(REMOVE_GAP);
        self.pins.remove();
        CrioPodTruth {
            pod_uid: self.runc.pod_uid.clone(),
            creator_pid: self.pins.creator_pid,
            created: self.pins.created,
            pins: self.pins.pins.clone(),
            infra,
            containers,
            host_mnt: ns_inum("self", "mnt").expect("our mnt ns"),
            remover_pid: std::process::id(),
        }
    }
}

/// A whole CRI-O pod with two containers in the given order.
pub fn crio_pod(infra: Infra, order: Order) -> CrioPodTruth {
    let mut pod = CrioPod::new(infra);
    let short = pod.container("init", &["/bin/sleep", SHORT_S]);
    let long = pod.container("app", &["/bin/sleep", "30"]);
    let containers = match order {
        Order::ShortFirst => {
            let r = pod.runc.run(&short);
            let earliest = r.started.from_ns + SHORT_NS;
            let a = pod.runc.wait_exit(r, earliest);
            let r = pod.runc.run(&long);
            thread::sleep(LONG_HOLD);
            let b = pod.runc.kill(r, "KILL", 137);
            vec![a, b]
        }
        Order::Overlapping => {
            let rb = pod.runc.run(&long);
            let ra = pod.runc.run(&short);
            let earliest = ra.started.from_ns + SHORT_NS;
            let a = pod.runc.wait_exit(ra, earliest);
            thread::sleep(LONG_HOLD / 2);
            let b = pod.runc.kill(rb, "KILL", 137);
            vec![b, a]
        }
    };
    pod.stop_and_remove(containers)
}
