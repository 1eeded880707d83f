//! The README tells what the code does: its recovery rules are RECOVERY.md's (the
//! recovery module's own documentation), word for word.

#[test]
fn the_readme_states_the_recovery_rules_the_code_documents() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let rules = std::fs::read_to_string(root.join("src/analysis/RECOVERY.md")).unwrap();
    let body = rules.split_once('\n').map(|(_, rest)| rest.trim()).unwrap();
    assert!(
        readme.contains(body),
        "README's \"How stampede judges recovery\" differs from src/analysis/RECOVERY.md: copy it over"
    );
}
