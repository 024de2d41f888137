//! What real IEC 104 and DNP3 peers send, judged by firewall-common's inspectors (the code the
//! XDP program runs, here on the host: no root, no zcfw, no namespaces).
//!
//! The byte streams are the segments c104 2.2.1 and dnp3-simulation 0.1.2 sent to each other
//! in normal operation, captured once (`tests/vectors/*.txt` say how). Each stream is fed
//! segment by segment through `stream::segment`, both directions interleaved in capture order
//! as the data path sees them, then cut again at every size from 1 byte up (the stacks write
//! headers and bodies separately; TCP may cut anywhere). A profile that allows the operations
//! the peers used must pass every byte; `read_only` must deny exactly the commands, each
//! under its type id or function code.
//!
//! DNP3 frames the simulator never sends (class polls, confirms, unsolicited responses, link
//! status, multi-fragment requests) are built by hand (`zcfw_harness::dnp3`), checked against
//! tshark's DNP3 dissector, and judged the same way.

use std::{fs, path::Path};

use firewall_common::{
    dnp3::{self, Dnp3Profile, Dnp3Violation},
    iec104::{self, Iec104Profile, Iec104Violation},
    stream::{self, StreamSide, Verdict, Walker},
};
use zcfw_harness::{
    TempDir,
    dnp3::{control, function, objects},
    modbus::hex_decode,
    pcap,
};

/// One captured segment.
#[derive(Clone, Debug)]
struct Segment {
    /// Client (controlling station, master) to server.
    from_client: bool,
    /// Relative TCP sequence number in its direction.
    seq: u32,
    payload: Vec<u8>,
}

fn vectors(name: &str) -> Vec<Segment> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("vectors")
        .join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(w.len(), 3, "{}: bad line {l:?}", path.display());
            Segment {
                from_client: match w[0] {
                    "c2s" => true,
                    "s2c" => false,
                    other => panic!("{}: direction {other:?}", path.display()),
                },
                seq: w[1].parse().expect("sequence number"),
                payload: hex_decode(w[2]).expect("hex"),
            }
        })
        .collect()
}

/// Re-cuts each direction's byte stream into segments of `size` bytes, keeping the order of
/// the capture between directions (a direction's bytes go out before the other direction's
/// next segment that followed them in the capture).
fn recut(segments: &[Segment], size: usize) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut next = [1u32, 1u32];
    for s in segments {
        let d = usize::from(!s.from_client);
        for chunk in s.payload.chunks(size) {
            out.push(Segment {
                from_client: s.from_client,
                seq: next[d],
                payload: chunk.to_vec(),
            });
            next[d] += chunk.len() as u32;
        }
    }
    out
}

/// What a replay ended with: the session bits and each direction's state.
type Replayed = (u8, [StreamSide; 2]);

/// Feeds `segments` through `stream::segment` with `client` / `server` walkers (one
/// `StreamSide` per direction, shared session bits); returns the index and denial of the
/// first segment that does not pass.
fn replay<C: Walker, S: Walker<Denial = C::Denial>>(
    segments: &[Segment],
    client: &C,
    server: &S,
) -> Result<Replayed, (usize, Verdict<C::Denial>)> {
    let mut sides = [StreamSide::START, StreamSide::START];
    for side in &mut sides {
        side.syn(0);
    }
    let mut session = 0u8;
    for (i, s) in segments.iter().enumerate() {
        let len = s.payload.len();
        let verdict = if s.from_client {
            stream::segment(
                &s.payload[..],
                0,
                len,
                s.seq,
                &mut sides[0],
                &mut session,
                client,
            )
        } else {
            stream::segment(
                &s.payload[..],
                0,
                len,
                s.seq,
                &mut sides[1],
                &mut session,
                server,
            )
        };
        if !matches!(verdict, Verdict::Pass) {
            return Err((i, verdict));
        }
    }
    Ok((session, sides))
}

fn describe(segments: &[Segment], i: usize) -> String {
    let s = &segments[i];
    format!(
        "segment {i} ({} seq {}: {})",
        if s.from_client { "client" } else { "server" },
        s.seq,
        zcfw_harness::modbus::hex_encode(&s.payload)
    )
}

// ---- IEC 60870-5-104 ----

/// The type ids c104's controlling station sent: interrogation, counter interrogation, read,
/// clock sync, test (with time tag), single command, set point (short float); common address 1.
fn c104_profile() -> Iec104Profile {
    let mut p = Iec104Profile::new();
    for code in [100, 101, 102, 103, 107, 45, 50] {
        p.allow_type_id(code);
    }
    p.allow_common_addresses(1, 1).expect("range");
    p
}

#[test]
fn c104_session_passes_a_profile_that_allows_what_it_does() {
    let segments = vectors("iec104-c104.txt");
    assert!(segments.len() > 30, "the capture holds the whole session");
    let profile = c104_profile();
    let (session, sides) = replay(
        &segments,
        &iec104::Control { profile: &profile },
        &iec104::Monitor,
    )
    .unwrap_or_else(|(i, v)| panic!("{} is {v:?}", describe(&segments, i)));
    for side in sides {
        assert!(side.cursor.at_boundary(), "{:?}", side.cursor);
    }
    assert_eq!(
        session & iec104::session::STARTED,
        iec104::session::STARTED,
        "STARTDT con was seen"
    );
}

#[test]
fn c104_session_cut_at_every_size_passes() {
    let segments = vectors("iec104-c104.txt");
    let profile = c104_profile();
    for size in 1..=20 {
        let cut = recut(&segments, size);
        if let Err((i, v)) = replay(
            &cut,
            &iec104::Control { profile: &profile },
            &iec104::Monitor,
        ) {
            panic!(
                "cut into {size}-byte segments: {} is {v:?}",
                describe(&cut, i)
            );
        }
    }
}

#[test]
fn c104_commands_are_what_read_only_denies() {
    let segments = vectors("iec104-c104.txt");
    let profile = Iec104Profile::read_only();
    let control = iec104::Control { profile: &profile };
    let mut denied = Vec::new();
    // Each client segment judged on its own (every one holds whole APDUs), after STARTDT con.
    for s in segments.iter().filter(|s| s.from_client) {
        let mut cursor = stream::StreamCursor::START;
        let mut session = iec104::session::STARTED;
        match stream::walk(
            &s.payload[..],
            0,
            s.payload.len(),
            &mut cursor,
            &mut session,
            &control,
        ) {
            Ok(_) => {}
            Err(d) => {
                assert_eq!(d.kind, Iec104Violation::TypeId, "{d:?}");
                denied.push(d.type_id);
            }
        }
    }
    // Clock sync, single command direct, select, execute, set point.
    assert_eq!(denied, vec![103, 45, 45, 45, 50]);
}

/// c104's default start-up (`Init.ALL`) interrogates and synchronises the clock at the global
/// common address 65535. A profile allows it only when it names 65535: `read_only` (any
/// address but the global one) denies the interrogation, and a profile naming 1 and 65535
/// passes the whole start-up. (An operator of c104-like masters must list 65535, or set the
/// master's start-up to address its stations.)
#[test]
fn c104_start_up_addresses_the_global_common_address() {
    let segments = vectors("iec104-c104-init-all.txt");
    let read_only = Iec104Profile::read_only();
    match replay(
        &segments,
        &iec104::Control {
            profile: &read_only,
        },
        &iec104::Monitor,
    ) {
        Err((i, Verdict::Denied(d))) => {
            assert_eq!(
                (d.kind, d.type_id, d.common_address),
                (Iec104Violation::CommonAddress, 100, 0xFFFF),
                "{}",
                describe(&segments, i)
            );
        }
        other => panic!("read_only should deny the interrogation of address 65535: {other:?}"),
    }
    let mut named = Iec104Profile::read_only();
    named.allow_type_id(103);
    named.allow_common_addresses(1, 1).expect("range");
    named.allow_common_addresses(0xFFFF, 0xFFFF).expect("range");
    if let Err((i, v)) = replay(
        &segments,
        &iec104::Control { profile: &named },
        &iec104::Monitor,
    ) {
        panic!("{} is {v:?}", describe(&segments, i));
    }
}

/// The APDUs the namespace tests build by hand decode in tshark as what they are meant to be.
#[test]
fn hand_made_iec104_apdus_decode_in_tshark() {
    use zcfw_harness::iec104::{
        C_SC_DIRECT_IOA, C_SE_IOA, CA, clock_sync, i_frame, interrogation, read, reset_process,
        s_frame, setpoint, single_command, u, u_frame,
    };
    let apdus = vec![
        (true, u_frame(u::STARTDT_ACT)),
        (false, u_frame(u::STARTDT_CON)),
        (true, interrogation(0, CA)),
        (true, read(1, CA, 101)),
        (true, clock_sync(2, CA)),
        (true, single_command(3, CA, C_SC_DIRECT_IOA, true, false)),
        (true, single_command(4, CA, C_SC_DIRECT_IOA, true, true)),
        (true, setpoint(5, CA, C_SE_IOA, 42.5)),
        (true, reset_process(6, CA)),
        (true, i_frame(7, 0, 1, 3, CA, 100, &[0])),
        (true, s_frame(3)),
        (true, u_frame(u::TESTFR_ACT)),
        (false, u_frame(u::TESTFR_CON)),
    ];
    let dir = TempDir::new("peer-frames-iec104").expect("temp dir");
    let path = dir.join("hand-made.pcap");
    pcap::write_pcap(&path, &pcap::tcp_conversation(2404, &apdus)).expect("pcap");
    let rows = pcap::tshark_fields(
        &path,
        "iec60870_104",
        &[
            "iec60870_104.type",
            "iec60870_104.utype",
            "iec60870_asdu.typeid",
            "iec60870_asdu.causetx",
            "iec60870_asdu.addr",
            "iec60870_asdu.ioa",
            "_ws.malformed",
            "_ws.expert.severity",
        ],
    )
    .expect("tshark");
    let summary: Vec<String> = rows.iter().map(|r| r.join(" ")).collect();
    assert_eq!(
        rows.len(),
        apdus.len(),
        "every APDU is IEC 104: {summary:#?}"
    );
    let types: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(
        types,
        [
            "", "", "100", "102", "103", "45", "45", "50", "105", "1", "", "", ""
        ],
        "{summary:#?}"
    );
    for r in &rows {
        assert!(r[6].is_empty() && r[7].is_empty(), "{r:?}");
        if !r[2].is_empty() {
            assert_eq!(r[4], "1", "common address: {r:?}");
        }
    }
}

/// Merges runs of consecutive segments of one direction into segments of at most `max`
/// bytes: what the data path sees when the sender's TCP coalesces queued writes (autocorking,
/// Nagle) or when generic XDP gets a GSO super-packet.
fn coalesce(segments: &[Segment], max: usize) -> Vec<Segment> {
    let mut runs: Vec<(bool, Vec<u8>)> = Vec::new();
    for s in segments {
        match runs.last_mut() {
            Some((dir, bytes)) if *dir == s.from_client => bytes.extend_from_slice(&s.payload),
            _ => runs.push((s.from_client, s.payload.clone())),
        }
    }
    let mut out = Vec::new();
    let mut next = [1u32, 1u32];
    for (from_client, bytes) in runs {
        let d = usize::from(!from_client);
        for chunk in bytes.chunks(max) {
            out.push(Segment {
                from_client,
                seq: next[d],
                payload: chunk.to_vec(),
            });
            next[d] += chunk.len() as u32;
        }
    }
    out
}

/// A 300-point interrogation answer, as sent and coalesced into MSS-sized segments (1448
/// bytes: a burst queued behind a full congestion window leaves as full segments).
#[test]
fn c104_interrogation_burst_passes_as_sent_and_in_full_segments() {
    let segments = vectors("iec104-c104-interrogation-300.txt");
    let profile = Iec104Profile::read_only();
    for (what, cut) in [
        ("as sent", segments.clone()),
        ("in 1448-byte segments", coalesce(&segments, 1448)),
    ] {
        if let Err((i, v)) = replay(
            &cut,
            &iec104::Control { profile: &profile },
            &iec104::Monitor,
        ) {
            panic!("{what}: {} is {v:?}", describe(&cut, i));
        }
    }
}

/// The same burst as one GSO super-packet (what generic XDP sees of a coalesced burst, and
/// what TCP autocorking makes of back-to-back writes): 9 APDUs, 1,643 bytes, all judged (the
/// walker is bounded by `stream::PAYLOAD_MAX` bytes, not by a number of APDUs).
#[test]
fn c104_interrogation_burst_in_one_super_packet() {
    let segments = vectors("iec104-c104-interrogation-300.txt");
    let profile = Iec104Profile::read_only();
    let cut = coalesce(&segments, 65536);
    let r = replay(
        &cut,
        &iec104::Control { profile: &profile },
        &iec104::Monitor,
    );
    if let Err((i, v)) = r {
        panic!("{} is {v:?}", describe(&cut, i));
    }
}

// ---- DNP3 ----

/// What the simulator's master sent: read, write, direct operate (with and without ack),
/// cold and warm restart, to outstation 1024.
fn sim_profile() -> Dnp3Profile {
    let mut p = Dnp3Profile::new();
    for code in [1, 2, 5, 6, 13, 14] {
        p.allow_function(code);
    }
    p.allow_addresses(1024, 1024).expect("range");
    p
}

#[test]
fn dnp3_sim_session_passes_a_profile_that_allows_what_it_does() {
    let segments = vectors("dnp3-sim.txt");
    assert!(segments.len() > 10, "the capture holds the whole session");
    let profile = sim_profile();
    for size in [usize::MAX, 1, 2, 3, 5, 7, 10, 11, 13, 16, 17, 18, 19, 20] {
        let cut = if size == usize::MAX {
            segments.clone()
        } else {
            recut(&segments, size)
        };
        if let Err((i, v)) = replay(
            &cut,
            &dnp3::Direction::master(&profile),
            &dnp3::Direction::OUTSTATION,
        ) {
            panic!(
                "cut into {size}-byte segments: {} is {v:?}",
                describe(&cut, i)
            );
        }
    }
}

#[test]
fn dnp3_sim_controls_are_what_read_only_denies() {
    let segments = vectors("dnp3-sim.txt");
    let profile = Dnp3Profile::read_only();
    let mut denied = Vec::new();
    for s in segments.iter().filter(|s| s.from_client) {
        let mut cursor = dnp3::Dnp3Cursor::default();
        if let Err(d) = dnp3::walk(
            &s.payload[..],
            0,
            s.payload.len(),
            &mut cursor,
            Some(&profile),
        ) {
            assert_eq!(d.kind, Dnp3Violation::Function, "{d:?}");
            assert_eq!(d.address, 1024);
            denied.push(d.function);
        }
    }
    // Write, direct operate, direct operate no ack, warm restart, cold restart.
    assert_eq!(denied, vec![2, 5, 6, 14, 13]);
}

/// Frames a master and an outstation exchange that the simulator does not implement, in the
/// order of a real session: link status both ways, class 0 and event class polls, an
/// unsolicited response and its confirm, a read split over two transport segments.
fn hand_made_session() -> Vec<(bool, Vec<u8>)> {
    use zcfw_harness::dnp3::{
        MASTER, OUTSTATION, confirm, link_frame, request, response, two_fragment_request,
    };
    let bo = [10, 2, 0x17, 2, 0, 0x81, 1, 0x01];
    vec![
        (
            true,
            link_frame(control::MASTER_LINK_STATUS_REQUEST, OUTSTATION, MASTER, &[]),
        ),
        (
            false,
            link_frame(control::OUTSTATION_LINK_STATUS, MASTER, OUTSTATION, &[]),
        ),
        (
            true,
            link_frame(control::MASTER_RESET_LINK, OUTSTATION, MASTER, &[]),
        ),
        (
            false,
            link_frame(control::OUTSTATION_ACK, MASTER, OUTSTATION, &[]),
        ),
        (true, request(1, function::READ, objects::CLASS_0)),
        (false, response(1, function::RESPONSE, [0, 0], &bo)),
        (true, request(2, function::READ, objects::CLASS_123)),
        (false, response(2, function::RESPONSE, [0, 0], &[])),
        (
            false,
            response(3, function::UNSOLICITED_RESPONSE, [0, 0], &bo),
        ),
        (true, confirm(3, true)),
        (
            false,
            link_frame(
                control::OUTSTATION_LINK_STATUS_REQUEST,
                MASTER,
                OUTSTATION,
                &[],
            ),
        ),
        (
            true,
            link_frame(control::MASTER_LINK_STATUS, OUTSTATION, MASTER, &[]),
        ),
        (
            true,
            two_fragment_request(4, function::READ, objects::CLASS_0, 1),
        ),
        (false, response(4, function::RESPONSE, [0, 0], &bo)),
    ]
}

#[test]
fn hand_made_dnp3_frames_decode_in_tshark_and_pass_read_only() {
    let session = hand_made_session();
    let dir = TempDir::new("peer-frames-dnp3").expect("temp dir");
    let path = dir.join("hand-made.pcap");
    pcap::write_pcap(&path, &pcap::tcp_conversation(20000, &session)).expect("pcap");
    // tshark: every frame is DNP3 with good CRCs, and the functions are what we meant.
    let rows = pcap::tshark_fields(
        &path,
        "dnp3",
        &[
            "dnp3.ctl.dir",
            "dnp3.ctl.prm",
            "dnp3.ctl.prifunc",
            "dnp3.ctl.secfunc",
            "dnp3.al.func",
            "dnp3.hdr.CRC.incorrect",
            "dnp3.data_chunk.CRC.incorrect",
            "_ws.malformed",
            "_ws.expert.severity",
        ],
    )
    .expect("tshark");
    let summary: Vec<String> = rows.iter().map(|r| r.join(" ")).collect();
    assert_eq!(
        rows.len(),
        session.len(),
        "every frame is DNP3: {summary:#?}"
    );
    let functions: Vec<&str> = rows.iter().map(|r| r[4].as_str()).collect();
    assert_eq!(
        functions,
        [
            "", "", "", "", "1", "129", "1", "129", "130", "0", "", "", "1", "129"
        ],
        "{summary:#?}"
    );
    // No CRC tshark finds wrong, nothing malformed, no expert finding at all (IP and TCP
    // checksums are verified too). The split read's two link frames share one TCP segment
    // and one row; tshark reassembles the fragment and decodes its function once.
    for r in &rows {
        assert!(
            r[5].is_empty() && r[6].is_empty() && r[7].is_empty() && r[8].is_empty(),
            "{r:?}"
        );
    }
    // DIR set in exactly the master's frames (several per row when frames share a segment).
    for ((from_client, _), r) in session.iter().zip(&rows) {
        let expected = if *from_client {
            ["1", "True"]
        } else {
            ["0", "False"]
        };
        assert!(
            r[0].split(',').all(|dir| expected.contains(&dir)),
            "DIR {} for a frame from_client={from_client}: {r:?}",
            r[0]
        );
    }

    let segments: Vec<Segment> = {
        let mut next = [1u32, 1u32];
        session
            .iter()
            .map(|(from_client, payload)| {
                let d = usize::from(!from_client);
                let s = Segment {
                    from_client: *from_client,
                    seq: next[d],
                    payload: payload.clone(),
                };
                next[d] += payload.len() as u32;
                s
            })
            .collect()
    };
    let mut profile = Dnp3Profile::read_only();
    profile.allow_addresses(1024, 1024).expect("range");
    for size in [usize::MAX, 1, 2, 9, 10, 11, 12, 13, 16, 17, 18, 19] {
        let cut = if size == usize::MAX {
            segments.clone()
        } else {
            recut(&segments, size)
        };
        if let Err((i, v)) = replay(
            &cut,
            &dnp3::Direction::master(&profile),
            &dnp3::Direction::OUTSTATION,
        ) {
            panic!(
                "cut into {size}-byte segments: {} is {v:?}",
                describe(&cut, i)
            );
        }
    }
}
