//! Settings: defaults, presets, YAML, validation, a profile's `target.overlay`.

use super::*;

#[test]
fn defaults_and_presets_are_valid() {
    assert!(OverlayConfig::default().validate().is_empty());
    for name in OverlayConfig::PRESETS {
        let c = OverlayConfig::preset(name).unwrap();
        assert!(c.validate().is_empty(), "{name}");
    }
    assert!(OverlayConfig::preset("nope").is_none());
}

#[test]
fn yaml_with_units_and_actions() {
    let c = OverlayConfig::from_yaml_str(
        "capacity: 500/s\nallocation: bug-2007\nqueue: unbounded\nsupernode_share: 10%\n\
         self_shutdown: { load: 90% }\n\
         actions: [{ at: 90s, inject_mega_supernodes: 4, slots: 20000 }, { at: 2m, shed: true }]\n",
    )
    .unwrap();
    assert_eq!(c.capacity.per_sec(), 500.0);
    assert_eq!(c.allocation, Allocation::Bug2007);
    assert_eq!(c.queue, QueuePolicy::Unbounded);
    assert_eq!(c.self_shutdown.unwrap().load.0, 0.9);
    assert_eq!(c.actions[1].at.0.as_secs(), 120);
    assert_eq!(
        c.actions[0].kind(),
        Some(ActionKind::InjectMega { count: 4, slots: 20000 })
    );
    assert_eq!(c.initial_online, 10_000, "absent fields keep defaults");
}

#[test]
fn mode_names_are_strums_and_serdes_alike() {
    for (q, name) in [(QueuePolicy::Bounded, "bounded"), (QueuePolicy::Unbounded, "unbounded")] {
        assert_eq!(q.as_str(), name);
        assert_eq!(serde_yaml::to_value(q).unwrap(), serde_yaml::Value::String(name.into()));
        assert_eq!(serde_yaml::from_str::<QueuePolicy>(name).unwrap(), q);
    }
    for (a, name) in [(Allocation::Healthy, "healthy"), (Allocation::Bug2007, "bug-2007")] {
        assert_eq!(a.as_str(), name);
        assert_eq!(serde_yaml::to_value(a).unwrap(), serde_yaml::Value::String(name.into()));
        assert_eq!(serde_yaml::from_str::<Allocation>(name).unwrap(), a);
    }
    assert_eq!(QueuePolicy::VARIANTS, ["bounded", "unbounded"]);
    assert_eq!(Allocation::VARIANTS, ["healthy", "bug-2007"]);
    let e = OverlayConfig::from_yaml_str("allocation: bug2007\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown allocation `bug2007`: use one of healthy, bug-2007"),
        "{e}"
    );
}

#[test]
fn unknown_fields_are_refused() {
    assert!(OverlayConfig::from_yaml_str("capacty: 5/s\n").is_err());
    assert!(OverlayConfig::from_yaml_str("actions: [{ at: 1s, shed: true, x: 1 }]").is_err());
}

#[test]
fn validate_reports_every_problem_with_its_path() {
    let c = OverlayConfig {
        capacity: Rate(0.0),
        supernode_slots: 0,
        client_timeout: Dur::default(),
        actions: vec![
            Action {
                at: Dur::from_secs_f64(1.0),
                inject_mega_supernodes: Some(2),
                ..Action::default()
            },
            Action::default(),
            Action {
                shed: Some(true),
                inject_mega_supernodes: Some(1),
                slots: Some(3),
                ..Action::default()
            },
        ],
        ..OverlayConfig::default()
    };
    let fields: Vec<String> = c.validate().into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            "capacity",
            "client_timeout",
            "supernode_slots",
            "actions[0].slots",
            "actions[1]",
            "actions[2]"
        ]
    );
    assert!(matches!(
        OverlayConfig::from_yaml_str("supernode_slots: 0"),
        Err(ConfigError::Invalid(p)) if p.len() == 1
    ));
}

#[test]
fn mega_supernode_totals_bound_the_actions() {
    let action = |n: u32, slots: u32| Action {
        at: Dur::from_secs_f64(1.0),
        inject_mega_supernodes: Some(n),
        slots: Some(slots),
        ..Action::default()
    };
    let c = OverlayConfig {
        max_mega_supernodes: 5,
        max_mega_slots: 100,
        actions: vec![action(3, 10), action(2, 35)],
        ..OverlayConfig::default()
    };
    assert_eq!(c.mega_of_actions(), (5, 100));
    assert!(c.validate().is_empty());
    let c = OverlayConfig {
        actions: vec![action(3, 10), action(3, 40)],
        ..c
    };
    let p = c.validate();
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p[0].0 == "actions" && p[0].1.contains("inject 6 mega-supernodes in all"),
        "{p:?}"
    );
    assert!(
        p[1].0 == "actions" && p[1].1.contains("150 slots in all, over max_mega_slots (100)"),
        "{p:?}"
    );
    let c = OverlayConfig {
        max_mega_supernodes: MAX_MEGA_SUPERNODES + 1,
        actions: vec![action(MAX_MEGA_PER_CALL + 1, 1)],
        ..OverlayConfig::default()
    };
    let fields: Vec<String> = c.validate().into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["actions[0].inject_mega_supernodes", "max_mega_supernodes"]);
}

#[test]
fn a_file_overrides_the_mode_preset() {
    let base = OverlayConfig::preset("december-2010").unwrap();
    let c = OverlayConfig::from_yaml_over(&base, "capacity: 300/s\ninitial_online: 5\n").unwrap();
    assert_eq!(c.capacity.per_sec(), 300.0);
    assert_eq!(c.initial_online, 5);
    assert_eq!(c.self_shutdown.unwrap().load.0, 0.9, "the preset's own fields stay");
    assert!(OverlayConfig::from_yaml_over(&base, "").is_ok());
    assert!(OverlayConfig::from_yaml_over(&base, "[1]").is_err());
    assert!(OverlayConfig::from_yaml_over(&base, "capacity: 0/s").is_err());
    assert!(matches!(
        OverlayConfig::load("bug-2008", None),
        Err(ConfigError::UnknownMode(_))
    ));
    let over = serde_yaml::from_str("allocation: healthy\n").unwrap();
    let c = OverlayConfig::load("bug-2007", Some(over)).unwrap();
    assert_eq!(c.allocation, Allocation::Healthy);
}

#[test]
fn derived_values() {
    let c = OverlayConfig::default();
    assert_eq!(c.queue_bound(), 4000);
    assert_eq!(c.retry_after_secs(), 2);
    let c = OverlayConfig {
        retry_after: Dur::from_secs_f64(0.2),
        ..c
    };
    assert_eq!(c.retry_after_secs(), 1);
}

#[test]
fn presets_and_settings_merge() {
    let v: Value = serde_yaml::from_str("{ preset: bug-2007, capacity: 500/s }").unwrap();
    let c = from_profile(&v, Duration::from_secs(3), 1234).unwrap();
    assert_eq!(c.capacity.0, 500.0);
    assert_eq!(c.initial_online, 1234);
    assert_eq!(c.client_timeout.0, Duration::from_secs(3));
    assert_eq!(c.allocation.as_str(), "bug-2007");
    let e = from_profile(&Value::String("nope".into()), Duration::from_secs(1), 1).unwrap_err();
    assert!(e[0].1.contains("not a preset"));
    let v: Value = serde_yaml::from_str("{ capacity: lots }").unwrap();
    assert!(from_profile(&v, Duration::from_secs(1), 1).is_err());
}

#[test]
fn a_profiles_overlay_forms_and_their_problem_paths() {
    let t = Duration::from_millis(2500);
    let yaml = |s: &str| serde_yaml::from_str::<Value>(s).unwrap();
    let c = from_profile(&yaml("embedded"), t, 7).unwrap();
    assert_eq!(
        (c.allocation, c.client_timeout.0, c.initial_online),
        (Allocation::Healthy, t, 7)
    );
    let c = from_profile(&yaml("december-2010"), t, 7).unwrap();
    assert!(c.self_shutdown.is_some());
    let c = from_profile(&yaml("{ client_timeout: 1s, initial_online: 3 }"), t, 7).unwrap();
    assert_eq!(
        (c.client_timeout.0, c.initial_online),
        (Duration::from_secs(1), 3),
        "the profile's own win"
    );

    let problems = |s: &str| from_profile(&yaml(s), t, 7).unwrap_err();
    assert_eq!(
        problems("{ preset: 5 }"),
        [("preset".to_string(), "must be a preset name".to_string())]
    );
    let p = problems("{ preset: bug-2008 }");
    assert_eq!(p[0].0, "preset");
    assert!(
        p[0].1
            .contains("use one of healthy, bug-2007, unbounded, december-2010"),
        "{p:?}"
    );
    for not_settings in ["[1]", "5", "~"] {
        let p = problems(not_settings);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, "", "{not_settings}");
        assert!(p[0].1.starts_with("write `embedded`"), "{p:?}");
    }
    let p = problems("{ capacty: 5/s }");
    assert_eq!(p[0].0, "", "serde's text names the field: {p:?}");
    assert!(p[0].1.contains("capacty"), "{p:?}");
    let fields: Vec<String> = problems("{ supernode_slots: 0, capacity: 0/s }")
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    assert_eq!(fields, ["capacity", "supernode_slots"], "every problem, by field");
}

#[test]
fn connection_timeouts_have_defaults_and_must_be_positive() {
    let c = OverlayConfig::default();
    assert_eq!(
        (c.header_read_timeout.0, c.idle_timeout.0),
        (Duration::from_secs(10), Duration::from_secs(60))
    );
    let c = OverlayConfig::from_yaml_str("header_read_timeout: 500ms\nidle_timeout: 2m\n").unwrap();
    assert_eq!(
        (c.header_read_timeout.0, c.idle_timeout.0),
        (Duration::from_millis(500), Duration::from_secs(120))
    );
    let p = OverlayConfig::from_yaml_str("header_read_timeout: 0s\nidle_timeout: 0s\n").unwrap_err();
    assert!(matches!(&p, ConfigError::Invalid(p) if p.len() == 2), "{p}");
}

#[test]
fn an_admin_token_is_long_visible_ascii_and_never_shown() {
    let c = OverlayConfig::from_yaml_str("admin_token: 0123456789abcdef\n").unwrap();
    assert_eq!(c.admin_token, Some(AdminToken("0123456789abcdef".into())));
    assert!(!format!("{c:?}").contains("0123456789abcdef"));
    for bad in ["short", "0123456789 abcdef", "0123456789abcdé!"] {
        let e = OverlayConfig::from_yaml_str(&format!("admin_token: '{bad}'\n")).unwrap_err();
        assert!(e.to_string().contains("admin_token: must be at least 16"), "{bad}: {e}");
    }
    assert!(OverlayConfig::default().admin_token.is_none());
}

#[test]
fn gateway_settings_have_defaults_names_and_checked_bounds() {
    let g = OverlayConfig::default().gateway;
    assert_eq!(
        (g.resume_cost.0, g.overload, g.heartbeat_timeout.0, g.nodes),
        (0.2, Overload::Close1013, Duration::from_secs(90), 4)
    );
    let c = OverlayConfig::from_yaml_str(
        "gateway: { resume_cost: 50%, overload: http-503, heartbeat_timeout: 0s, nodes: 8 }\n\
         actions: [{ at: 1m, drop_connections: 30% }, { at: 2m, restart_gateway: 7 }]\n",
    )
    .unwrap();
    assert_eq!(c.gateway.overload.as_str(), "http-503");
    assert_eq!((c.gateway.resume_cost.0, c.gateway.nodes), (0.5, 8));
    assert!(c.gateway.heartbeat_timeout.0.is_zero());
    assert_eq!(c.actions[0].kind(), Some(ActionKind::DropConnections(Share(0.3))));
    assert_eq!(c.actions[1].kind(), Some(ActionKind::RestartGateway(7)));
    let c = OverlayConfig::from_yaml_str("gateway: { nodes: 2 }\n").unwrap();
    assert_eq!(c.gateway.resume_cost.0, 0.2, "absent gateway fields keep defaults");

    let e = OverlayConfig::from_yaml_str("gateway: { overload: close }\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown gateway overload answer `close`: use one of close-1013, http-503"),
        "{e}"
    );
    assert!(
        OverlayConfig::from_yaml_str("gateway: { node: 2 }\n").is_err(),
        "unknown field"
    );
    let e = OverlayConfig::from_yaml_str(
        "gateway: { nodes: 0 }\nactions: [{ at: 1s, restart_gateway: 0 }, \
         { at: 1s, shed: true, drop_connections: 10% }, { at: 1s, restart_gateway: 1, slots: 2 }]\n",
    )
    .unwrap_err();
    let ConfigError::Invalid(p) = e else { panic!("{e}") };
    let fields: Vec<&str> = p.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "gateway.nodes",
            "actions[0].restart_gateway",
            "actions[1]",
            "actions[2].slots",
            "actions[2].restart_gateway"
        ],
        "{p:?}"
    );
    assert!(p[0].1.contains("between 1 and 1024"), "{p:?}");
    assert!(
        p[2].1.contains("give one of shed, drop_connections, not several"),
        "{p:?}"
    );
    let v: Value = serde_yaml::from_str("{ gateway: { nodes: 0, resume_cost: 5% } }").unwrap();
    let p = from_profile(&v, Duration::from_secs(1), 1).unwrap_err();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].0, "gateway.nodes", "the path under target.overlay");
    let c = OverlayConfig::from_yaml_str("actions: [{ at: 1s, restart_gateway: 4 }]\n").unwrap_err();
    assert!(
        c.to_string().contains(
            "actions[0].restart_gateway: names node 4, but the gateway's nodes are 0 to 3 (gateway.nodes: 4)"
        ),
        "{c}"
    );
}

#[test]
fn a_drain_action_is_true_or_left_out() {
    let c = OverlayConfig::from_yaml_str("actions: [{ at: 10s, drain: true }]\n").unwrap();
    assert_eq!(c.actions[0].kind(), Some(ActionKind::Drain));
    let e = OverlayConfig::from_yaml_str("actions: [{ at: 10s, drain: false }]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("actions[0].drain") && e.contains("must be true"), "{e}");
    let e = OverlayConfig::from_yaml_str("actions: [{ at: 10s, drain: true, shed: true }]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not several"), "{e}");
}
