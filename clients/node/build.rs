//! Linker setup for a Node addon (undefined napi symbols resolved at load time), and this
//! package's source directory for the runner's build script (`links = "runwire_node"` in
//! Cargo.toml makes it `DEP_RUNWIRE_NODE_ROOT` there): the runner builds and embeds the
//! addon from it when it is built from crates.io.

fn main() {
    napi_build::setup();
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo::metadata=root={root}");
}
