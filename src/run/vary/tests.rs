//! The grid of a map: axes parsed, points made and validated.
use super::*;

#[test]
fn a_vary_spec_splits_at_commas_outside_brackets() {
    let AxisSpec::Field { path, values, .. } = parse_vary("storm.downtime=uniform(6s, 30s),2s").unwrap() else {
        panic!()
    };
    assert_eq!(
        (path.as_str(), values),
        ("storm.downtime", vec!["uniform(6s, 30s)".to_string(), "2s".into()])
    );
    assert!(parse_vary("storm.waves[0].share").is_err());
    assert!(parse_vary("storm.waves[x].share=1%").is_err());
    assert!(parse_vary("a=1,,2").is_err());
    assert!(
        parse_vary("a=1,1")
            .unwrap_err()
            .to_string()
            .contains("`1` is given twice")
    );
    assert_eq!(
        segments("storm.waves[0].share").unwrap(),
        [
            Seg::Key("storm".into()),
            Seg::Key("waves".into()),
            Seg::Index(0),
            Seg::Key("share".into())
        ]
    );
}

const TWO_WAVES: &str = "name: s\ntarget: { nodes: [http://127.0.0.1:1] }\npopulation: { simulate: 1000 }\nstorm: { waves: [ { share: 20% }, { at: 1m, share: 10% } ] }\nclient: { login: [ { request: POST /l } ] }\n";

fn build(axes: Vec<AxisSpec>) -> Result<Grid, Vec<VaryError>> {
    let file = Path::new("s.yaml");
    let base = crate::run::parse(TWO_WAVES, file, &|_| None).unwrap();
    Grid::build(&base, TWO_WAVES, file, &|_| None, axes)
}

fn field(spec: &str) -> AxisSpec {
    parse_vary(spec).unwrap()
}

#[test]
fn intensity_and_a_field_make_one_grid_each_point_its_own_profile() {
    let g = build(vec![
        AxisSpec::Intensity(vec![1.0, 2.0]),
        field("storm.waves[1].share=30%,10%"),
    ])
    .unwrap();
    assert_eq!(g.axes[1].values, ["10%", "30%"], "sorted by magnitude");
    assert_eq!(g.axes[1].relative, [Some(1.0), Some(3.0)]);
    let at: Vec<(&[usize], &str, &str)> = g
        .points
        .iter()
        .map(|p| (&p.at[..], p.label.as_str(), p.dir.as_str()))
        .collect();
    assert_eq!(
        at[3],
        (&[1, 1][..], "intensity=2, share=30%", "intensity=2_share=30pct")
    );
    // (20% + 30%) × 2 of 1,000 clients.
    assert_eq!(crate::plan::Plan::new(&g.points[3].profile).storm_clients, 1_000);
    assert_eq!(crate::plan::Plan::new(&g.points[0].profile).storm_clients, 300);
    assert_eq!(g.points[3].intensity, 2.0);
}

#[test]
fn every_point_is_validated_and_a_bad_one_named() {
    // 90% + 30% is more than everyone: each value is fine alone, not together.
    let e = build(vec![
        field("storm.waves[0].share=60%,90%"),
        field("storm.waves[1].share=10%,30%"),
    ])
    .unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    let msg = e[0].to_string();
    assert!(
        msg.starts_with("point storm.waves[0].share=90%, storm.waves[1].share=30%: "),
        "both axes' leaves are `share`: the full paths tell them apart: {msg}"
    );
    let e = build(vec![
        AxisSpec::Intensity(vec![1.0, 4.0]),
        field("storm.waves[1].share=10%"),
    ])
    .unwrap_err();
    assert!(
        e[0].to_string().contains("point intensity=4, share=10%: intensity 4:"),
        "{e:?}"
    );
    let e = build(vec![field("storm.waves[2].share=10%")]).unwrap_err();
    assert!(
        e[0].to_string()
            .contains("nearest: storm.waves[0].share, storm.waves[1].share"),
        "{e:?}"
    );
}

#[test]
fn magnitudes_of_shares_rates_durations_and_numbers() {
    assert_eq!(magnitude("10%"), Some(0.1));
    assert_eq!(magnitude("120/m"), Some(2.0));
    assert_eq!(magnitude("1m"), Some(60.0));
    assert_eq!(magnitude("2_000"), Some(2000.0));
    assert_eq!(magnitude("full"), None);
    assert_eq!(safe("100/s"), "100per-s");
    assert_eq!(safe("10%"), "10pct");
}
