//! The committed REAPI client code must be what `cargo xtask codegen` produces from the
//! vendored protos in `proto/third_party` now.

#[test]
fn committed_generated_code_is_fresh() {
    let root = xtask::repo_root();
    let fresh = tempfile::tempdir().unwrap();
    xtask::generate_reapi(&root, fresh.path()).unwrap_or_else(|e| panic!("{e}"));
    let committed_dir = xtask::reapi_generated_dir(&root);
    let mut names: Vec<_> = std::fs::read_dir(fresh.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "code generation produced no file");
    for name in &names {
        let expected = std::fs::read_to_string(fresh.path().join(name)).unwrap();
        let actual = std::fs::read_to_string(committed_dir.join(name)).unwrap_or_default();
        assert!(
            expected == actual,
            "crates/runwire-remote/src/third_party/{} is stale: run `cargo xtask codegen` and commit the result",
            name.to_string_lossy()
        );
    }
    // No leftover file from an older generation either.
    let mut committed: Vec<_> = std::fs::read_dir(&committed_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    committed.sort();
    assert_eq!(
        committed, names,
        "crates/runwire-remote/src/third_party has files codegen no longer makes"
    );
}
