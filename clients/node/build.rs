//! Linker setup for a Node addon (undefined napi symbols resolved at load time).

fn main() {
    napi_build::setup();
}
