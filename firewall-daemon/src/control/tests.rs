use super::*;

#[test]
fn request_wire_format_is_stable() {
    assert_eq!(
        RequestLine::encode(&Request::Stats),
        format!("{{\"protocol\":{PROTOCOL},\"command\":\"stats\"}}\n")
    );
    let line = |json: &str| RequestLine::decode(&json.replace("P", &PROTOCOL.to_string()));
    assert_eq!(
        line(r#"{"protocol":P,"command":"stats"}"#),
        Ok(Request::Stats)
    );
    assert_eq!(
        line(r#"{"protocol":P,"command":"reload"}"#),
        Ok(Request::Reload { policy: None })
    );
    assert_eq!(
        line(r#"{"protocol":P,"command":"island","on":true}"#),
        Ok(Request::Island { on: true })
    );
    assert_eq!(
        line(r#"{"protocol":P,"command":"events"}"#),
        Ok(Request::Events { follow: false })
    );
    assert_eq!(
        line(r#"{"protocol":P,"command":"learn","action":"read"}"#),
        Ok(Request::Learn {
            action: crate::learn::LearnAction::Read
        })
    );
    for request in [
        Request::Status,
        Request::Reload {
            policy: Some("/etc/zcfw/p.yaml".into()),
        },
        Request::Events { follow: true },
    ] {
        assert_eq!(
            RequestLine::decode(&RequestLine::encode(&request)),
            Ok(request)
        );
    }
    assert!(matches!(
        line(r#"{"protocol":P,"command":"format_disk"}"#),
        Err(Failure::BadRequest { .. })
    ));
}

/// What a zcfw before protocol versions sent (version 1: no `protocol`), and what a later
/// one might send: the daemon answers with the versions, not with a parse error.
#[test]
fn the_daemon_names_both_versions_to_a_client_of_another_protocol() {
    let old = RequestLine::decode(r#"{"command":"status"}"#);
    assert_eq!(
        old,
        Err(Failure::Protocol {
            daemon: PROTOCOL,
            client: 1
        })
    );
    // A newer request may have a shape this build cannot read: the version is read first.
    let newer = format!(
        r#"{{"protocol":{},"command":"status","filter":{{"zone":"dmz"}}}}"#,
        PROTOCOL + 1
    );
    let Err(failure) = RequestLine::decode(&newer) else {
        panic!("a request of protocol {} was accepted", PROTOCOL + 1);
    };
    let text = failure.to_string();
    assert!(
        text.contains(&format!("daemon speaks control protocol {PROTOCOL}"))
            && text.contains(&format!("this zcfw speaks {}", PROTOCOL + 1))
            && text.contains("restart the service"),
        "{text}"
    );
    // The answer still has `ok` and `error`, which is all a version 1 client reads.
    let answer: serde_json::Value =
        serde_json::from_str(&Response::<()>::failed(failure).encode()).expect("JSON");
    assert_eq!(answer["ok"], false);
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("restart the service"))
    );
}

/// What a daemon before protocol versions answered, and what a later one might: the client
/// says which versions differ instead of failing to read the data.
#[test]
fn the_client_names_both_versions_to_a_daemon_of_another_protocol() {
    let old_daemon = r#"{"ok":true,"data":{"policy":{"name":"p","hash":"h","generation":1}}}"#;
    let err = decode_answer::<Status>("/run/zcfw/zcfw.sock", old_daemon).expect_err("refused");
    assert!(
        matches!(
            err,
            ClientError::Protocol {
                daemon: 1,
                client: PROTOCOL,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("speaks control protocol 1")
            && text.contains(&format!("this zcfw speaks {PROTOCOL}"))
            && text.contains("restart the service"),
        "{text}"
    );
    // An old daemon streams events without a greeting: the first event line gives it away.
    let first_event = r#"{"time":"t","action":"drop","reason":"default_deny"}"#;
    assert!(matches!(
        decode_answer::<serde::de::IgnoredAny>("s", first_event),
        Err(ClientError::Protocol { daemon: 1, .. })
    ));
    let newer = format!(
        r#"{{"protocol":{},"ok":true,"data":{{"renamed":1}}}}"#,
        PROTOCOL + 1
    );
    assert!(matches!(
        decode_answer::<Status>("s", &newer),
        Err(ClientError::Protocol { .. })
    ));
}

#[test]
fn a_refused_reload_arrives_typed() {
    let refused = Response::<Reloaded>::failed(Failure::Reload(ReloadError::InvalidPolicy {
        diagnostics: "p.yaml:1:1: error: x".into(),
    }));
    let wire = refused.encode();
    assert!(wire.contains(r#""kind":"reload""#), "{wire}");
    assert!(
        wire.contains(r#""reload_error":"invalid_policy""#),
        "{wire}"
    );
    let err = decode_answer::<Reloaded>("s", &wire).expect_err("refused");
    assert_eq!(
        err.reload_error(),
        Some(&ReloadError::InvalidPolicy {
            diagnostics: "p.yaml:1:1: error: x".into()
        })
    );
    let lost = Failure::Reload(ReloadError::NotEnforced {
        interfaces: vec![status::NotEnforced {
            interface: "eth1".into(),
            why: "link gone".into(),
        }],
    });
    let back: Response<Reloaded> =
        serde_json::from_str(&Response::<Reloaded>::failed(lost.clone()).encode()).expect("JSON");
    assert_eq!(back.failure, Some(lost));
    assert!(back.error.is_some_and(|e| e.contains("eth1 (link gone)")));
}

#[test]
fn answers_decode_into_their_types() {
    let wire = Response::ok(IslandState { island: true }).encode();
    assert_eq!(
        wire,
        format!("{{\"protocol\":{PROTOCOL},\"ok\":true,\"data\":{{\"island\":true}}}}\n")
    );
    assert_eq!(
        decode_answer::<IslandState>("s", &wire).expect("decodes"),
        Some(IslandState { island: true })
    );
    let greeting = Response::greeting().encode();
    assert!(
        decode_answer::<serde::de::IgnoredAny>("s", &greeting)
            .expect("decodes")
            .is_none()
    );
    // A key the client expects and the daemon does not send is an error, not a `?`.
    let missing = format!(r#"{{"protocol":{PROTOCOL},"ok":true,"data":{{"island":true}}}}"#);
    assert!(matches!(
        decode_answer::<Reloaded>("s", &missing),
        Err(ClientError::Decode { .. })
    ));
}

/// The field names on the wire are the documented ones (README.md, docs/events.md,
/// docs/service.md): written out here by hand, so a renamed field fails this test instead of
/// silently changing what `--json` prints.
#[test]
fn the_documented_field_names_stay() {
    use std::collections::BTreeMap;

    use self::{
        event::{ControlNotice, EventLine, Notice},
        stats::{ConduitCounter, Count, EventCounters, InterfaceCounters, PolicyIdentity},
        status::{EnforcementMode, InterfaceAttachment, LoadedPolicy, XdpCheck},
    };
    let count = Count {
        packets: 2,
        bytes: 140,
    };
    let stats = Stats {
        events: EventCounters {
            sent: 14,
            rate_limited: 0,
            ring_full: 0,
            suppressed: Default::default(),
        },
        interfaces: vec![InterfaceCounters {
            name: "eth0".into(),
            passed: count,
            dropped: count,
        }],
        policy: PolicyIdentity {
            name: "p".into(),
            hash: "h".into(),
            generation: 1,
        },
        reasons: vec![stats::ReasonCounter {
            reason: "default_deny".into(),
            passes: false,
            packets: 12,
            bytes: 840,
        }],
        conduits: vec![ConduitCounter {
            id: 1,
            name: "c".into(),
            from: "dmz".into(),
            to: "control".into(),
            on_violation: "reset".into(),
            packets: 40,
            bytes: 3120,
            denied: BTreeMap::from([("modbus_function".into(), count)]),
            actions: BTreeMap::from([("reset".into(), count)]),
            rules: vec![stats::RuleCounter {
                id: 1,
                rule: "tcp 502 modbus".into(),
                packets: 3,
                bytes: 210,
            }],
        }],
        capture: stats::CaptureCounters {
            sent: 5,
            rate_limited: 1,
            ring_full: 0,
        },
    };
    let c = serde_json::json!({ "packets": 2, "bytes": 140 });
    assert_eq!(
        serde_json::to_value(&stats).expect("stats"),
        serde_json::json!({
            "events": { "sent": 14, "rate_limited": 0, "ring_full": 0,
                "suppressed": { "inspection": 0, "policy": 0, "flood": 0 } },
            "interfaces": [{ "name": "eth0", "passed": c, "dropped": c }],
            "policy": { "name": "p", "hash": "h", "generation": 1 },
            "reasons": [{ "reason": "default_deny", "passes": false, "packets": 12, "bytes": 840 }],
            "conduits": [{ "id": 1, "name": "c", "from": "dmz", "to": "control",
                           "on_violation": "reset", "packets": 40, "bytes": 3120,
                           "denied": { "modbus_function": c }, "actions": { "reset": c },
                           "rules": [{ "id": 1, "rule": "tcp 502 modbus", "packets": 3,
                                       "bytes": 210 }] }],
            "capture": { "sent": 5, "rate_limited": 1, "ring_full": 0 },
        })
    );
    let status = Status {
        policy: LoadedPolicy {
            name: "p".into(),
            hash: "h".into(),
            path: "/etc/zcfw/policy.yaml".into(),
            generation: 3,
            loaded_at_unix: 1_700_000_000,
            load_ms: 1.5,
            zones: 4,
            conduits: 5,
        },
        interfaces: vec![InterfaceAttachment {
            name: "eth0".into(),
            ifindex: 2,
            bridge: None,
            is_bridge: false,
            xdp_mode: "native".into(),
            enforced: true,
            fast_path: None,
        }],
        xdp_check: XdpCheck {
            interval_s: 5.0,
            last_s_ago: None,
            repairs: 0,
            not_enforced: vec![],
        },
        island: false,
        mode: EnforcementMode::Monitor,
        monitor_conduits: vec!["c".into()],
        pin_dir: None,
        uptime_s: 9,
    };
    assert_eq!(
        serde_json::to_value(&status).expect("status"),
        serde_json::json!({
            "policy": { "name": "p", "hash": "h", "path": "/etc/zcfw/policy.yaml",
                        "generation": 3, "loaded_at_unix": 1_700_000_000u64, "load_ms": 1.5,
                        "zones": 4, "conduits": 5 },
            "interfaces": [{ "name": "eth0", "ifindex": 2, "bridge": null, "is_bridge": false,
                             "xdp_mode": "native", "enforced": true }],
            "xdp_check": { "interval_s": 5.0, "last_s_ago": null, "repairs": 0,
                           "not_enforced": [] },
            "island": false,
            "mode": "monitor",
            "monitor_conduits": ["c"],
            "pin_dir": null,
            "uptime_s": 9,
        })
    );
    let reloaded = Reloaded {
        name: "p".into(),
        hash: "h".into(),
        generation: 2,
        load_ms: 0.5,
        path: "/p.yaml".into(),
        unchanged: true,
    };
    assert_eq!(
        serde_json::to_value(&reloaded).expect("reloaded"),
        serde_json::json!({ "name": "p", "hash": "h", "generation": 2, "load_ms": 0.5,
                            "path": "/p.yaml", "unchanged": true })
    );
    // An older daemon's answer has no `unchanged`: a real reload.
    let old: Reloaded = serde_json::from_value(serde_json::json!({ "name": "p", "hash": "h",
        "generation": 2, "load_ms": 0.5, "path": "/p.yaml" }))
    .expect("older answer");
    assert!(!old.unchanged);
    let notice = EventLine::Notice(Notice::Control(ControlNotice {
        time: "t".into(),
        action: "refused".into(),
        what: "reload".into(),
        result: "refused: not in group zcfw-admin".into(),
        uid: 1001,
        user: "alice".into(),
        pid: Some(4711),
        command: "zcfw reload".into(),
    }));
    assert_eq!(
        serde_json::to_value(&notice).expect("notice"),
        serde_json::json!({ "time": "t", "kind": "control", "action": "refused",
                            "what": "reload", "result": "refused: not in group zcfw-admin",
                            "uid": 1001, "user": "alice", "pid": 4711,
                            "command": "zcfw reload" })
    );
    assert_eq!(
        serde_json::to_string(&EventLine::Missed { missed_events: 3 }).expect("missed"),
        r#"{"missed_events":3}"#
    );
}
