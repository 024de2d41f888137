//! EtherNet/IP with CIP (tcp/44818): the inspector program the main program tail-calls
//! through `INSPECTORS` (index `inspector::ENIP`), the generic stream step of
//! [`crate::stream`] with EtherNet/IP's byte walker ([`firewall_common::enip::step`]) run
//! one byte per `bpf_loop` iteration.

use core::ffi::c_void;

use aya_ebpf::{helpers::generated::bpf_loop, macros::xdp, programs::XdpContext};
use firewall_common::{
    enip::{self, EnipDenial, EnipProfile, EnipViolation},
    flow::{FlowState, StreamState},
    maps::{Handoff, walk_state},
    packet::PacketBytes,
    reason::Reason,
    stream::{PAYLOAD_MAX, Payload, PayloadBytes, StreamCursor, Verdict, Walker},
};

use crate::{
    looped::{record_denial, recorded_denial},
    maps::{ENIP_PROFILES, HANDOFF, PAYLOAD},
    stream::{Protocol, run, walk_either},
};

/// EtherNet/IP: the client's PDUs against the profile (commands, session, CIP services and
/// classes, also inside Unconnected Send and Multiple Service Packet), the device's for
/// framing and direction.
#[xdp]
pub fn zcfw_enip(ctx: XdpContext) -> u32 {
    run::<Enip>(&ctx)
}

struct Enip;

impl Protocol for Enip {
    const FAST: bool = false;
    const FRONT: usize = 0;
    type Profile = EnipProfile;
    type Denial = EnipDenial;
    type Opener = EnipLooped;
    type Peer = EnipLooped;

    #[inline(always)]
    fn profile(index: u32) -> Option<&'static EnipProfile> {
        ENIP_PROFILES.get(index)
    }

    #[inline(always)]
    fn opener(
        _profile: &'static EnipProfile,
        index: u32,
        _payload: &'static Payload,
    ) -> EnipLooped {
        EnipLooped {
            profile: EnipLooped::client(index),
        }
    }

    #[inline(always)]
    fn peer(_payload: &'static Payload) -> EnipLooped {
        EnipLooped {
            profile: EnipLooped::SERVER,
        }
    }

    /// The segment walked with the flow's open connections in this CPU's hand-over value
    /// ([`Handoff::walk_conns`], where the loop's step reads and opens them), kept only
    /// when the segment passes: a denied segment opens nothing.
    #[inline(always)]
    fn walk(
        b: &PayloadBytes<'static>,
        seq: u32,
        state: &mut FlowState,
        sides: &mut StreamState,
        h: &Handoff,
    ) -> Option<Verdict<EnipDenial>> {
        let handoff = HANDOFF.get_ptr_mut(0)?;
        // SAFETY: this CPU's value; the walk below is its only other user.
        unsafe { (*handoff).walk_conns = sides.enip };
        let verdict = walk_either::<Self>(b, seq, state, sides, h)?;
        if let Verdict::Pass = verdict {
            // SAFETY: as above; the walk is over.
            sides.enip = unsafe { (*handoff).walk_conns };
        }
        Some(verdict)
    }

    #[inline(always)]
    fn pack(d: EnipDenial) -> u64 {
        let (detail, known) = d.packed();
        Reason::of_enip(d.kind) as u64 | (known as u64) << 8 | (detail as u64) << 32
    }
}

/// A direction of an EtherNet/IP flow walked one part of a byte per `bpf_loop` iteration
/// over this CPU's [`PAYLOAD`] copy: the client's against its profile, the server's for
/// framing and direction.
pub struct EnipLooped {
    /// [`Handoff::walk_profile`]: the client's profile index + 1, or [`Self::SERVER`].
    pub profile: u32,
}

impl EnipLooped {
    /// The server's direction: framing and direction only.
    pub const SERVER: u32 = 0;

    /// The client's direction, judged against the profile at `index` of `ENIP_PROFILES`.
    #[inline(always)]
    pub const fn client(index: u32) -> u32 {
        index + 1
    }
}

/// One part of a byte of an EtherNet/IP walk, the one [`Handoff::walk_part`] names, for the
/// byte at [`Handoff::walk_at`]: [`enip::consume`]'s parts read the byte, [`enip::settle`]'s
/// judge and end what it completed; [`enip::next_part`] then names the next part that has
/// something to do, or the next byte. Stops the loop (1) on a denial, or when the segment is
/// walked. Its context is null: the cursor, session bits, open connections, position and
/// bounds are in this CPU's [`Handoff`] and the profile is looked up again, so every
/// iteration starts from the same state for the verifier (a context on the stack carried one
/// iteration's narrowed bounds into the next and the loop's verification never converged).
extern "C" fn enip_step(_index: u64, _ctx: *mut c_void) -> i64 {
    let (Some(h), Some(payload)) = (HANDOFF.get_ptr_mut(0), PAYLOAD.get_ptr(0)) else {
        // The loop stops short: the walk is unwalkable.
        return 1;
    };
    // SAFETY: this CPU's values; `walk_segment` reads them only after the loop.
    let (h, payload) = unsafe { (&mut *h, &*payload) };
    let at = h.walk_at as usize;
    if at >= h.walk_end as usize {
        h.walk_state = walk_state::DONE;
        return 1;
    }
    let profile = match h.walk_profile {
        EnipLooped::SERVER => None,
        i => match ENIP_PROFILES.get(i - 1) {
            Some(p) => Some(p),
            None => return 1,
        },
    };
    let part = h.walk_part;
    let mut pending = h.walk_pending != 0;
    let r = if part < enip::CONSUME_PARTS {
        // The mask is a no-op (`walk_end <= PAYLOAD_MAX`), there for the verifier.
        let end = h.walk_end as usize & (2 * PAYLOAD_MAX - 1);
        let bytes = PayloadBytes { payload, len: end };
        let Some([byte]) = bytes.load::<1>(at) else {
            return record_denial(h, EnipDenial::new(EnipViolation::Malformed));
        };
        let cursor = enip::cursor_in(&mut h.walk);
        let bits = &mut h.walk_bits;
        let conns = &mut h.walk_conns;
        // One test of the profile per call: inlined with a known `Some` or `None`.
        match profile {
            Some(p) => enip::consume(cursor, bits, conns, byte, Some(p), part, &mut pending),
            None => enip::consume(cursor, bits, conns, byte, None, part, &mut pending),
        }
    } else {
        let part = part - enip::CONSUME_PARTS;
        let cursor = enip::cursor_in(&mut h.walk);
        match profile {
            Some(p) => enip::settle(cursor, Some(p), part).map(|_| ()),
            None => enip::settle(cursor, None, part).map(|_| ()),
        }
    };
    if let Err(d) = r {
        return record_denial(h, d);
    }
    h.walk_pending = pending as u8;
    let next = enip::next_part(enip::cursor_in(&mut h.walk), part, pending);
    if next >= enip::NEXT_BYTE {
        h.walk_part = 0;
        h.walk_at = at as u32 + 1;
    } else {
        h.walk_part = next;
    }
    0
}

impl Walker for EnipLooped {
    type Denial = EnipDenial;

    #[inline(always)]
    fn walk_segment<B: PacketBytes + ?Sized>(
        &self,
        _b: &B,
        off: usize,
        len: usize,
        cursor: &mut StreamCursor,
        session: &mut u8,
    ) -> Result<(), EnipDenial> {
        if len > enip::MAX_SEGMENT_BYTES || off + len > PAYLOAD_MAX {
            return Err(EnipDenial::new(EnipViolation::Malformed));
        }
        let Some(h) = HANDOFF.get_ptr_mut(0) else {
            return Err(EnipDenial::new(EnipViolation::Malformed));
        };
        // SAFETY: this CPU's hand-over value, valid for the whole run; the loop's step is
        // the only other user while the loop runs.
        let h = unsafe { &mut *h };
        h.walk = *cursor;
        h.walk_bits = *session;
        h.walk_pending = 0;
        h.walk_part = 0;
        h.walk_profile = self.profile;
        h.walk_state = walk_state::WALKING;
        h.walk_at = off as u32;
        h.walk_end = (off + len) as u16;
        // Every part of every byte, and one more iteration to see the end: the most the
        // walk can take ([`enip::next_part`] skips the parts with nothing to do).
        let most = enip::PARTS as u32 * len as u32 + 1;
        // SAFETY: `enip_step` takes no context.
        unsafe { bpf_loop(most, enip_step as *mut c_void, core::ptr::null_mut(), 0) };
        // SAFETY: as above; the loop is over.
        let h = unsafe { &*(h as *const Handoff) };
        match h.walk_state {
            walk_state::DENIED => Err(recorded_denial(h)),
            // The loop stopped short of the end (a failed lookup).
            walk_state::WALKING => Err(EnipDenial::new(EnipViolation::Malformed)),
            _ => {
                *cursor = h.walk;
                *session = h.walk_bits;
                Ok(())
            }
        }
    }
}
