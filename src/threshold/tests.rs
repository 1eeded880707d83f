use super::*;

fn steps() -> Vec<String> {
    vec!["auth".into(), "join".into()]
}

#[test]
fn parses_metrics_operators_and_units() {
    let t = parse(" recovery_time < 3m ").unwrap();
    assert_eq!(t.expr, "recovery_time < 3m");
    assert_eq!(t.cond, Cond::Compare(Op::Lt, Bound::Duration(Duration::from_secs(180))));
    let t = parse("login.p99<=800ms").unwrap();
    assert_eq!(
        t.metric,
        Metric::Latency {
            step: None,
            stat: Stat::P99
        }
    );
    assert_eq!(
        t.cond,
        Cond::Compare(Op::Le, Bound::Duration(Duration::from_millis(800)))
    );
    assert_eq!(
        parse("success_rate > 99.5%").unwrap().cond,
        Cond::Compare(Op::Gt, Bound::Share(0.995))
    );
    assert_eq!(
        parse("retry_amplification < 2.5x").unwrap().cond,
        Cond::Compare(Op::Lt, Bound::Number(2.5))
    );
    assert_eq!(
        parse("gave_up == 0").unwrap().cond,
        Cond::Compare(Op::Eq, Bound::Count(0))
    );
    assert_eq!(
        parse("gave_up < 1%").unwrap().cond,
        Cond::Compare(Op::Lt, Bound::Share(0.01))
    );
    assert_eq!(
        parse("verdict in [recovered, never_degraded]").unwrap().cond,
        Cond::Verdict {
            negate: false,
            any_of: vec![Verdict::Recovered, Verdict::NeverDegraded]
        }
    );
    assert_eq!(
        parse("verdict != metastable").unwrap().cond,
        Cond::Verdict {
            negate: true,
            any_of: vec![Verdict::Metastable]
        }
    );
    assert_eq!(parse("join.p999 >= 1s").unwrap().metric.to_string(), "join.p999");
}

#[test]
fn errors_say_what_is_wrong_and_what_is_accepted() {
    let cases: &[(&str, &str)] = &[
        ("", "empty threshold"),
        ("login.p99 800ms", "has no comparison"),
        ("recovery_time <", "has no value"),
        ("latency < 3s", "unknown metric `latency`"),
        ("login.p98 < 1s", "`p98` is not a statistic; write one of p50"),
        ("login.p99 < 800", "a duration always carries its unit"),
        ("login.p99 < fast", "`fast` is not a valid value for `login.p99`"),
        ("success_rate > 120%", "write a percentage"),
        ("verdict < recovered", "cannot use `<`: it takes `==`, `!=` or `in"),
        ("verdict == healed", "`healed` is not a valid value for `verdict`"),
        ("retry_amplification < -1", "write a number of 0 or more"),
        ("gave_up < lots", "count of clients (`100`) or a share"),
        ("down_share in [1]", "cannot use `in`"),
    ];
    for (expr, want) in cases {
        let err = parse(expr).unwrap_err().to_string();
        assert!(err.contains(want), "{expr}: {err}");
    }
}

#[test]
fn parse_all_checks_step_names_and_reports_every_error_with_its_index() {
    let exprs: Vec<String> = ["auth.p99 < 1s", "joni.p99 < 1s", "login.p50 < 1s", "x > 1"]
        .map(String::from)
        .to_vec();
    let errs = parse_all(&exprs, &steps()).unwrap_err();
    assert_eq!(errs.len(), 2);
    assert_eq!(errs[0].0, 1);
    assert_eq!(
        errs[0].1.to_string(),
        "`joni.p99`: the login flow has no step `joni`; its steps are `auth`, `join`"
    );
    assert_eq!(errs[1].0, 3);
    assert!(errs[1].1.to_string().contains("steps: `auth`, `join`"));
    let ok = parse_all(&exprs[..1], &steps()).unwrap();
    assert_eq!(ok.len(), 1);
    // Without the flow, any step name is taken.
    assert!(parse("joni.p99 < 1s").is_ok());
}

#[test]
fn the_verdict_names_listed_are_every_verdict() {
    let listed = VERDICT_NAMES.trim_start_matches("write one of ");
    assert_eq!(listed, <Verdict as strum::VariantNames>::VARIANTS.join(", "));
}

#[test]
fn a_duration_beyond_any_run_is_refused_where_it_is_parsed() {
    assert_eq!(LONGEST, *crate::profile::limits::RUN.end());
    for v in ["18446744073709551615s", "2305843009213693952s", "169h", "8days"] {
        for m in ["recovery_time", "login.p99", "recovery_time_from_storm_end"] {
            let e = parse(&format!("{m} < {v}")).unwrap_err().to_string();
            assert!(e.contains("at most 168h"), "{m} < {v}: {e}");
        }
    }
    assert!(parse("recovery_time < 168h").is_ok());
}
