//! 7. Several instances.

use zcfw_harness::{XdpMode, Zone, daemon::has_xdp};

use crate::fixture::*;

#[test]
fn parallel_instances_do_not_collide_and_a_restart_loads_the_changed_policy() {
    let plant1 = plant("parallel_1");
    let plant2 = plant("parallel_2");
    // Instance 1 denies enterprise → control; instance 2 allows it.
    let p1 = policy(&plant1, "svc-parallel-1", XdpMode::Native, "", "");
    let ent_ctl = "  - name: enterprise-to-control\n    from: enterprise\n    to: control\n    rules:\n      - { protocol: udp, ports: [9000] }\n  - name: dmz-to-control";
    let p2 = policy(&plant2, "svc-parallel-2", XdpMode::Skb, "", "")
        .replace("  - name: dmz-to-control", ent_ctl);
    let mut svc1 = service(&plant1, &p1);
    let mut svc2 = service(&plant2, &p2);
    svc1.start().unwrap_or_else(|e| panic!("{e:#}"));
    svc2.start().unwrap_or_else(|e| panic!("{e:#}"));
    let _servers1 = echo_servers(&plant1);
    let _servers2 = echo_servers(&plant2);
    let mut c = Checks::default();
    c.check(
        svc1.pin_dir() != svc2.pin_dir() && svc1.socket() != svc2.socket(),
        || "both instances share a pin dir or socket".into(),
    );
    let (s1, s2) = (status(&svc1), status(&svc2));
    c.check(
        s1.policy.name == "svc-parallel-1"
            && s2.policy.name == "svc-parallel-2"
            && s1
                .interfaces
                .iter()
                .map(|i| &i.name)
                .eq(plant1.gateway_interfaces().iter())
            && s2
                .interfaces
                .iter()
                .map(|i| &i.name)
                .eq(plant2.gateway_interfaces().iter())
            && s1.pin_dir.as_deref() == Some(&*svc1.pin_dir().to_string_lossy())
            && s2.pin_dir.as_deref() == Some(&*svc2.pin_dir().to_string_lossy()),
        || format!("statuses mixed up:\n{s1:?}\n{s2:?}"),
    );
    c.check(
        s2.interfaces.iter().all(|i| i.xdp_mode == "skb")
            && s1.interfaces.iter().all(|i| i.xdp_mode == "native"),
        || format!("xdp modes: {s1:?} {s2:?}"),
    );
    c.udp(
        &plant1,
        "instance 1",
        Zone::Enterprise,
        Zone::Control,
        9000,
        false,
    );
    c.udp(
        &plant2,
        "instance 2",
        Zone::Enterprise,
        Zone::Control,
        9000,
        true,
    );
    c.udp(&plant1, "instance 1", Zone::Dmz, Zone::Control, 9000, true);
    c.udp(&plant2, "instance 2", Zone::Dmz, Zone::Control, 9000, true);

    // Reloading and islanding one leaves the other alone.
    let out = svc1.reload(None).expect("reload");
    c.check(out.success() && out.output().contains("unchanged"), || {
        format!(
            "reload of instance 1 (same file: unchanged): {}",
            out.output()
        )
    });
    svc1.island(true).expect("island");
    let s2b = status(&svc2);
    c.check(
        s2b.policy.generation == s2.policy.generation && !s2b.island,
        || format!("instance 2 changed when instance 1 was reloaded and islanded: {s2b:?}"),
    );
    c.udp(
        &plant2,
        "instance 1 in island mode",
        Zone::Dmz,
        Zone::Control,
        9000,
        true,
    );
    c.udp(
        &plant1,
        "instance 1 in island mode",
        Zone::Dmz,
        Zone::Control,
        9000,
        false,
    );
    svc1.island(false).expect("island");

    // Instance 1 stopped; its policy changed meanwhile; started again: the new one is live.
    let code = svc1.terminate().expect("SIGTERM");
    c.check(code.success(), || format!("instance 1 exited with {code}"));
    let p1b = p1
        .replace("name: svc-parallel-1", "name: svc-parallel-1-changed")
        .replace("  - name: dmz-to-control", ent_ctl);
    svc1.write_policy(&p1b).expect("write");
    c.udp(
        &plant1,
        "instance 1 down, policy file changed",
        Zone::Enterprise,
        Zone::Control,
        9000,
        false,
    );
    let gen_before = status(&svc2).policy.generation;
    svc1.start().unwrap_or_else(|e| panic!("{e:#}"));
    let s1c = status(&svc1);
    // The reload above read the same file: `unchanged`, the generation stayed; the start
    // with the changed file is the one generation more.
    c.check(
        s1c.policy.name == "svc-parallel-1-changed"
            && s1c.policy.hash != s1.policy.hash
            && s1c.policy.generation == s1.policy.generation + 1,
        || {
            format!(
                "instance 1 restarted with a changed policy: status {:?}, before {:?}",
                s1c.policy, s1.policy
            )
        },
    );
    c.udp(
        &plant1,
        "instance 1 restarted with the changed policy",
        Zone::Enterprise,
        Zone::Control,
        9000,
        true,
    );
    c.check(status(&svc2).policy.generation == gen_before, || {
        "instance 2 changed when instance 1 restarted".into()
    });

    // Instance 2 killed and detached: instance 1 keeps enforcing.
    svc2.kill().expect("SIGKILL");
    let out = svc2.detach().expect("detach");
    c.check(out.success() && !svc2.pin_dir().exists(), || {
        format!("detach of instance 2: {}", out.output())
    });
    for ifname in plant2.gateway_interfaces() {
        let d = plant2.gateway().link_details(&ifname).expect("ip link");
        c.check(!has_xdp(&d), || {
            format!("XDP still on {ifname} of instance 2:\n{d}")
        });
    }
    c.check(svc1.pin_dir().join("maps").exists(), || {
        "instance 1 lost its pins".into()
    });
    for ifname in plant1.gateway_interfaces() {
        let d = plant1.gateway().link_details(&ifname).expect("ip link");
        c.check(has_xdp(&d), || {
            format!("XDP gone from {ifname} of instance 1:\n{d}")
        });
    }
    c.udp(
        &plant1,
        "instance 2 detached",
        Zone::Control,
        Zone::Dmz,
        9000,
        false,
    );
    c.udp(
        &plant1,
        "instance 2 detached",
        Zone::Dmz,
        Zone::Control,
        9000,
        true,
    );
    c.check(
        status(&svc1).policy.name == "svc-parallel-1-changed",
        || "instance 1 status changed".into(),
    );
    c.finish("parallel instances");
}
