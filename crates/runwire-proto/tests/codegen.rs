//! The committed generated code must be what `cargo xtask codegen` produces from proto/ now.

use std::path::Path;

#[test]
fn committed_generated_code_is_fresh() {
    let root = xtask::repo_root();
    let fresh = tempfile::tempdir().unwrap();
    xtask::generate(&root, fresh.path()).unwrap_or_else(|e| panic!("{e}"));
    let committed_dir = xtask::generated_dir(&root);
    let mut compared = 0;
    for entry in std::fs::read_dir(fresh.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        let committed = committed_dir.join(name);
        let expected = std::fs::read_to_string(&path).unwrap();
        let actual = std::fs::read_to_string(&committed).unwrap_or_default();
        assert!(
            expected == actual,
            "{} is stale: run `cargo xtask codegen` and commit the result",
            Path::new("crates/runwire-proto/src/gen")
                .join(name)
                .display()
        );
        compared += 1;
    }
    assert!(compared > 0, "code generation produced no file");
}
