//! Embeds the eBPF object that `cargo xtask build-ebpf` built.
//!
//! `TRACER_EBPF_OBJ` (set by xtask) names it; without it, the object where
//! xtask puts it is used if present. A build without any object still
//! compiles (so `cargo test` on pure logic needs no nightly), and the
//! binary says at start-up how to build it properly.
use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ebpf_obj)");
    println!("cargo::rerun-if-env-changed=TRACER_EBPF_OBJ");
    let manifest =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let default = manifest.join("../target/ebpf/bpfel-unknown-none/release/tracer");
    let obj = env::var_os("TRACER_EBPF_OBJ")
        .map(PathBuf::from)
        .unwrap_or(default);
    println!("cargo::rerun-if-changed={}", obj.display());
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("tracer.bpf.o");
    if obj.is_file() {
        fs::copy(&obj, &out).expect("copy the eBPF object into OUT_DIR");
        println!("cargo::rustc-cfg=ebpf_obj");
    } else {
        println!(
            "cargo::warning=no eBPF object at {}: this tracer cannot load its programs; build with `cargo xtask build`",
            obj.display()
        );
    }
}
