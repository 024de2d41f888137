//! 3. and 4. Invalid policies, on reload and at start.

use std::{
    path::Path,
    thread,
    time::{Duration, Instant},
};

use zcfw_harness::{XdpMode, Zone, traffic::ping};

use crate::fixture::*;

/// `text` with `from` replaced by `to`, and the 1-based line and column in it of `mark`
/// (the offending value, part of `to`).
fn broken(text: &str, from: &str, to: &str, mark: &str) -> (String, usize, usize) {
    let out = text.replacen(from, to, 1);
    let at = out.find(to).expect("replaced") + to.find(mark).expect("mark is part of `to`");
    let line = out[..at].matches('\n').count() + 1;
    let col = at - out[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    (out, line, col)
}

/// Whether diagnostics name `file:line:col` (or, with `line` 0, `file:` followed by a
/// line and column).
fn names_position(diag: &str, file: &Path, line: usize, col: usize) -> bool {
    let file = file.display().to_string();
    if line > 0 {
        return diag.contains(&format!("{file}:{line}:{col}"));
    }
    diag.match_indices(&format!("{file}:")).any(|(i, m)| {
        let rest = &diag[i + m.len()..];
        let mut parts = rest.splitn(3, ':');
        let l = parts.next().unwrap_or_default();
        let c = parts.next().unwrap_or_default();
        !l.is_empty()
            && l.chars().all(|ch| ch.is_ascii_digit())
            && !c.is_empty()
            && c.chars().all(|ch| ch.is_ascii_digit())
    })
}

/// The invalid variants of `good`: (what, text, line, col); line 0: any position.
fn invalid_variants(good: &str) -> Vec<(&'static str, String, usize, usize)> {
    let (cidr, l1, c1) = broken(good, "10.30.0.0/24", "10.30.0.0/40", "10.30.0.0/40");
    let (zone, l2, c2) = broken(good, "to: control", "to: kontrol", "kontrol");
    let (yaml, _, _) = broken(good, "ports: [5020] }", "ports: [5020 }", "}");
    vec![
        ("a bad network", cidr, l1, c1),
        ("a conduit to an unknown zone", zone, l2, c2),
        ("a YAML syntax error", yaml, 0, 0),
    ]
}

#[test]
fn invalid_policy_on_reload_is_refused_and_the_old_one_stays() {
    let plant = plant("bad_reload");
    let good = policy(&plant, "svc-bad-reload", XdpMode::Native, "", "");
    let mut svc = service(&plant, &good);
    svc.start().unwrap_or_else(|e| panic!("{e:#}"));
    let _servers = echo_servers(&plant);
    let mut c = Checks::default();
    let st0 = status(&svc);
    let prog = attached_prog(&svc);
    c.udp(&plant, "good policy", Zone::Dmz, Zone::Control, 9000, true);
    c.udp(
        &plant,
        "good policy",
        Zone::Enterprise,
        Zone::Control,
        9000,
        false,
    );

    for (i, (what, text, line, col)) in invalid_variants(&good).into_iter().enumerate() {
        let file = svc
            .write_file(&format!("bad-{i}.yaml"), &text)
            .expect("write");
        let out = svc.reload(Some(&file)).expect("zcfw reload");
        c.check(
            out.code == Some(1)
                && names_position(&out.stderr, &file, line, col)
                && out.stderr.contains("reload refused")
                && !out.stdout.contains("is live"),
            || {
                format!(
                    "reload to a policy with {what}: expected exit 1 with diagnostics naming \
                     {}:{line}:{col}, got {}",
                    file.display(),
                    out.output()
                )
            },
        );
        let st = status(&svc);
        c.check(
            st.policy.generation == st0.policy.generation
                && st.policy.hash == st0.policy.hash
                && st.policy.path == st0.policy.path,
            || {
                format!(
                    "after the refused reload ({what}): status {:?}, before {:?}",
                    st.policy, st0.policy
                )
            },
        );
        let when = format!("after the refused reload ({what})");
        c.udp(&plant, &when, Zone::Dmz, Zone::Control, 9000, true);
        c.udp(&plant, &when, Zone::Enterprise, Zone::Control, 9000, false);
        c.udp(&plant, &when, Zone::Control, Zone::Dmz, 9000, false);
        match ping(&plant.host(Zone::Enterprise).ns, v4(Zone::Dmz), 1, PASS) {
            Ok(1) => {}
            other => c.check(false, || {
                format!("{when}: enterprise → dmz ping: {other:?}")
            }),
        }
    }
    c.check(attached_prog(&svc) == prog, || {
        "the XDP program changed".into()
    });

    // SIGHUP re-reads the policy file: broken, it is refused; fixed, it goes live.
    let (bad, _, _) = broken(&good, "10.30.0.0/24", "10.30.0.0/40", "10.30.0.0/40");
    svc.write_policy(&bad).expect("write");
    svc.sighup().expect("SIGHUP");
    thread::sleep(Duration::from_millis(500));
    let st = status(&svc);
    c.check(
        st.policy.generation == st0.policy.generation && svc.is_running(),
        || {
            format!(
                "SIGHUP with a broken policy file: status {:?}, running {}",
                st.policy,
                svc.is_running()
            )
        },
    );
    c.check(svc.log().contains("reload refused"), || {
        format!(
            "SIGHUP with a broken file: nothing in the log:\n{}",
            svc.log_tail(20)
        )
    });
    c.udp(
        &plant,
        "after a refused SIGHUP",
        Zone::Dmz,
        Zone::Control,
        9000,
        true,
    );
    c.udp(
        &plant,
        "after a refused SIGHUP",
        Zone::Enterprise,
        Zone::Control,
        9000,
        false,
    );
    let fixed = policy(
        &plant,
        "svc-bad-reload-fixed",
        XdpMode::Native,
        "",
        "",
    )
    .replace(
        "  - name: dmz-to-control",
        "  - name: enterprise-to-control\n    from: enterprise\n    to: control\n    rules:\n      - { protocol: udp, ports: [9000] }\n  - name: dmz-to-control",
    );
    svc.write_policy(&fixed).expect("write");
    svc.sighup().expect("SIGHUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    while status(&svc).policy.generation == st0.policy.generation && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let st = status(&svc);
    c.check(
        st.policy.generation == st0.policy.generation + 1
            && st.policy.name == "svc-bad-reload-fixed",
        || format!("SIGHUP with a fixed policy file: status {:?}", st.policy),
    );
    c.udp(
        &plant,
        "after SIGHUP with the fixed file",
        Zone::Enterprise,
        Zone::Control,
        9000,
        true,
    );
    c.finish("invalid policy on reload");
}

#[test]
fn invalid_policy_at_start_keeps_the_pinned_policy() {
    let plant = plant("bad_start");
    let good = policy(&plant, "svc-bad-start", XdpMode::Native, "", "");
    let mut svc = service(&plant, &good);
    svc.start().unwrap_or_else(|e| panic!("{e:#}"));
    let _servers = echo_servers(&plant);
    let mut c = Checks::default();
    let st0 = status(&svc);
    let prog = attached_prog(&svc);
    let code = svc.terminate().expect("SIGTERM");
    c.check(code.success(), || {
        format!("zcfw exited with {code} after SIGTERM")
    });
    c.udp(
        &plant,
        "daemon stopped",
        Zone::Dmz,
        Zone::Control,
        9000,
        true,
    );
    c.udp(
        &plant,
        "daemon stopped",
        Zone::Enterprise,
        Zone::Control,
        9000,
        false,
    );

    for (what, text, line, col) in invalid_variants(&good) {
        let file = svc.write_policy(&text).expect("write");
        let (code, log) = svc
            .run_to_exit(Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("zcfw run with {what}: {e:#}"));
        c.check(
            code.code() == Some(1)
                && names_position(&log, &file, line, col)
                && log.contains("previously loaded policy stays enforced"),
            || {
                format!(
                    "zcfw run with {what} over existing pins: expected exit 1, diagnostics naming \
                     {}:{line}:{col} and that the previous policy stays; got {code}, log:\n{log}",
                    file.display()
                )
            },
        );
        for (ifname, id) in svc.xdp_prog_ids().expect("ip link") {
            c.check(id == Some(prog), || {
                format!(
                    "{ifname} after the refused start ({what}): program {id:?}, expected {prog}"
                )
            });
        }
        let when = format!("after the refused start ({what})");
        c.udp(&plant, &when, Zone::Dmz, Zone::Control, 9000, true);
        c.udp(&plant, &when, Zone::Enterprise, Zone::Control, 9000, false);
        c.udp(&plant, &when, Zone::Control, Zone::Dmz, 9000, false);
    }

    // A valid policy again: the daemon starts, adopts, and the generation continues.
    svc.write_policy(&good).expect("write");
    svc.start().unwrap_or_else(|e| panic!("{e:#}"));
    let st = status(&svc);
    c.check(
        st.policy.generation == st0.policy.generation + 1 && st.policy.hash == st0.policy.hash,
        || {
            format!(
                "after the refused starts, a good one: status {:?}, first {:?}",
                st.policy, st0.policy
            )
        },
    );
    c.udp(&plant, "restarted", Zone::Dmz, Zone::Control, 9000, true);
    c.udp(
        &plant,
        "restarted",
        Zone::Enterprise,
        Zone::Control,
        9000,
        false,
    );
    c.finish("invalid policy at start");
}
