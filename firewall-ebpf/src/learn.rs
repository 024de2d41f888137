//! Learning mode (`firewall_common::learn`): summarises a decided IP packet into the `LEARN`
//! maps. Called only while `CONTROL` has the `LEARN` flag, in a BPF function of its own so the
//! main program's verification grows by one call site.

use firewall_common::{
    learn::{self, HostKey, HostValue, LearnValue},
    packet::{Family, Packet},
};

use crate::{XdpBytes, account::now, maps::*, zone_of};

/// Records `p` (frame `start..end`) under the zones of slot `slot`.
#[inline(never)]
pub fn record(start: usize, end: usize, p: &Packet, slot: u8) {
    let src_zone = zone_of(slot, p.family, &p.src) as u16;
    let dst_zone = zone_of(slot, p.family, &p.dst) as u16;
    let now = now();
    if src_zone == 0 {
        host(&p.src, p.family, dst_zone, 1, now);
    }
    if dst_zone == 0 {
        host(&p.dst, p.family, src_zone, 2, now);
    }
    if src_zone == 0 || dst_zone == 0 || src_zone == dst_zone {
        return;
    }
    let Some(o) = learn::observe(&XdpBytes { start, end }, p, src_zone, dst_zone) else {
        return;
    };
    if let Some(v) = LEARN.get_ptr_mut(&o.key) {
        // SAFETY: a valid pointer to the LRU value; a racing CPU may lose an update, which
        // only makes a count approximate.
        let v = unsafe { &mut *v };
        v.packets += 1;
        v.last_ns = now;
        if o.span_quantity != 0 {
            v.add_span(o.span_first, o.span_last, o.span_quantity);
        }
        return;
    }
    let mut v = LearnValue::first(now);
    if o.span_quantity != 0 {
        v.add_span(o.span_first, o.span_last, o.span_quantity);
    }
    let _ = LEARN.insert(&o.key, &v, 0);
}

/// Counts an address in no zone, seen as source (`seen_as` 1) or destination (2).
#[inline(never)]
fn host(addr: &[u8; 16], family: Family, peer_zone: u16, seen_as: u16, now: u64) {
    let key = HostKey {
        addr: *addr,
        family: family as u8,
        _pad: [0; 7],
    };
    if let Some(v) = LEARN_HOSTS.get_ptr_mut(&key) {
        // SAFETY: as in `record`.
        let v = unsafe { &mut *v };
        v.packets += 1;
        v.last_ns = now;
        v.peer_zone = peer_zone;
        v.seen_as |= seen_as;
        return;
    }
    let v = HostValue {
        packets: 1,
        first_ns: now,
        last_ns: now,
        peer_zone,
        seen_as,
        _pad: 0,
    };
    let _ = LEARN_HOSTS.insert(&key, &v, 0);
}
