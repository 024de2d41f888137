//! OPC UA binary (tcp/4840): the inspector program the main program tail-calls through
//! `INSPECTORS` (index `inspector::OPCUA`), the generic stream step of [`crate::stream`]
//! with OPC UA's chunk walker ([`firewall_common::opcua::step_part`]) run one part per
//! `bpf_loop` iteration: a byte of a chunk's undecided head, or the whole rest of a judged
//! chunk that lies in the segment.

use core::ffi::c_void;

use aya_ebpf::{helpers::generated::bpf_loop, macros::xdp, programs::XdpContext};
use firewall_common::{
    maps::{Handoff, walk_state},
    opcua::{self, OpcuaDenial, OpcuaProfile, malformed},
    packet::PacketBytes,
    reason::Reason,
    stream::{Payload, PayloadBytes, StreamCursor, Walker},
};

use crate::{
    looped::{record_denial, recorded_denial},
    maps::{HANDOFF, OPCUA_PROFILES, PAYLOAD},
    stream::{Protocol, run},
};

/// OPC UA: the client's chunks against the profile (security policy of every
/// OpenSecureChannel, services of cleartext bodies, channel order), the server's for framing
/// and direction.
#[xdp]
pub fn zcfw_opcua(ctx: XdpContext) -> u32 {
    run::<Opcua>(&ctx)
}

struct Opcua;

impl Protocol for Opcua {
    const FAST: bool = false;
    const FRONT: usize = 0;
    type Profile = OpcuaProfile;
    type Denial = OpcuaDenial;
    type Opener = OpcuaLooped;
    type Peer = OpcuaLooped;

    #[inline(always)]
    fn profile(index: u32) -> Option<&'static OpcuaProfile> {
        OPCUA_PROFILES.get(index)
    }

    #[inline(always)]
    fn opener(
        _profile: &'static OpcuaProfile,
        index: u32,
        _payload: &'static Payload,
    ) -> OpcuaLooped {
        OpcuaLooped { profile: index + 1 }
    }

    #[inline(always)]
    fn peer(_payload: &'static Payload) -> OpcuaLooped {
        OpcuaLooped {
            profile: OpcuaLooped::SERVER,
        }
    }

    #[inline(always)]
    fn pack(d: OpcuaDenial) -> u64 {
        let (detail, known) = d.packed();
        Reason::of_opcua(d.kind) as u64 | (known as u64) << 8 | (detail as u64) << 32
    }
}

/// A direction of an OPC UA flow walked one part per `bpf_loop` iteration over this CPU's
/// [`PAYLOAD`] copy: the client's against its profile, the server's for framing and
/// direction.
pub struct OpcuaLooped {
    /// [`Handoff::walk_profile`]: the client's profile index + 1, or [`Self::SERVER`].
    pub profile: u32,
}

impl OpcuaLooped {
    /// The server's direction: framing and direction only.
    pub const SERVER: u32 = 0;
}

/// Where the walk of a segment ending at `end` stops reading: the payload copy holds the
/// first [`opcua::WINDOW`] bytes; a longer segment (a GRO/GSO aggregate in skb mode) is walked
/// in them and [`opcua::beyond_window`] takes the rest. Computed in the loop's step and after
/// it, not before it, so that one state reaches the loop.
#[inline(always)]
fn window_end(end: usize) -> usize {
    if end > opcua::WINDOW {
        opcua::WINDOW
    } else {
        end
    }
}

/// One part of an OPC UA walk from [`Handoff::walk_at`]: a byte of a chunk's undecided head,
/// or the rest of a judged chunk in the segment. Stops the loop (1) on a denial or when the
/// segment is walked. Its context is null: the cursor, session bits, position and bounds are
/// in this CPU's [`Handoff`] and the profile is looked up again, so every iteration starts
/// from the same state for the verifier (see `enip_step`).
extern "C" fn opcua_step(_index: u64, _ctx: *mut c_void) -> i64 {
    let (Some(h), Some(payload)) = (HANDOFF.get_ptr_mut(0), PAYLOAD.get_ptr(0)) else {
        // The loop stops short: the walk is unwalkable.
        return 1;
    };
    // SAFETY: this CPU's values; `walk_segment` reads them only after the loop.
    let (h, payload) = unsafe { (&mut *h, &*payload) };
    let end = window_end(h.walk_end as usize);
    let at = h.walk_at as usize;
    if at >= end {
        h.walk_state = walk_state::DONE;
        return 1;
    }
    let profile = match h.walk_profile {
        OpcuaLooped::SERVER => None,
        i => match OPCUA_PROFILES.get(i - 1) {
            Some(p) => Some(p),
            None => return 1,
        },
    };
    let bytes = PayloadBytes { payload, len: end };
    let mut cursor = opcua::cursor_of(&h.walk);
    // One test of the profile per call: inlined with a known `Some` or `None`.
    let r = match profile {
        Some(p) => opcua::step_part(&mut cursor, &mut h.walk_bits, &bytes, at, end, Some(p)),
        None => opcua::step_part(&mut cursor, &mut h.walk_bits, &bytes, at, end, None),
    };
    match r {
        Ok(next) => {
            opcua::set_cursor(&mut h.walk, &cursor);
            h.walk_at = next as u32;
            0
        }
        Err(d) => record_denial(h, d),
    }
}

impl Walker for OpcuaLooped {
    type Denial = OpcuaDenial;

    #[inline(always)]
    fn walk_segment<B: PacketBytes + ?Sized>(
        &self,
        _b: &B,
        off: usize,
        len: usize,
        cursor: &mut StreamCursor,
        session: &mut u8,
    ) -> Result<(), OpcuaDenial> {
        if opcua::flags_of(cursor) & opcua::cursor_flags::UNFRAMED != 0 {
            // The server's direction lost its framing in an aggregate (see `beyond_window`).
            return Ok(());
        }
        let Some(h) = HANDOFF.get_ptr_mut(0) else {
            return Err(malformed(opcua::message::UNKNOWN));
        };
        // SAFETY: this CPU's hand-over value, valid for the whole run; the loop's step is
        // the only other user while the loop runs.
        let h = unsafe { &mut *h };
        h.walk = *cursor;
        h.walk_bits = *session;
        h.walk_profile = self.profile;
        h.walk_state = walk_state::WALKING;
        h.walk_at = off as u32;
        // The segment's end; the step walks up to the window's ([`window_end`]).
        h.walk_end = (off + len) as u16;
        // Every part advances at least a byte; one more iteration sees the end.
        // SAFETY: `opcua_step` takes no context.
        unsafe {
            bpf_loop(
                len as u32 + 1,
                opcua_step as *mut c_void,
                core::ptr::null_mut(),
                0,
            )
        };
        // Everything the walk left is read back from the maps, no value is kept across the
        // loop: whatever led to it, the loop starts from one state for the verifier.
        // SAFETY: as above; the loop is over.
        let h = unsafe { &*(h as *const Handoff) };
        let mut state = opcua::cursor_of(&h.walk);
        match h.walk_state {
            walk_state::DENIED => Err(recorded_denial(h)),
            walk_state::DONE => {
                let client = h.walk_profile != Self::SERVER;
                let end = h.walk_end as usize;
                opcua::beyond_window(&mut state, window_end(end), end, client)?;
                opcua::set_cursor(cursor, &state);
                *session = h.walk_bits;
                Ok(())
            }
            // The loop stopped short of the end (a failed lookup).
            _ => Err(malformed(state.kind)),
        }
    }
}
