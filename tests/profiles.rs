//! Every shipped profile loads, validates and plans.

use std::path::Path;

#[test]
fn every_shipped_profile_is_valid_and_plans() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let p = stampede::run::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let plan = stampede::plan::Plan::new(&p);
        assert!(plan.first_logins() > 0, "{}: plans no login", path.display());
        assert!(
            !p.description.is_empty(),
            "{}: say what it shows in `description`",
            path.display()
        );
        // Shipped profiles finish in under 3 minutes here.
        assert!(plan.end.as_secs() < 170, "{}: runs {:?}", path.display(), plan.end);
        seen += 1;
    }
    assert!(seen >= 1, "no profile found in {}", dir.display());
}
