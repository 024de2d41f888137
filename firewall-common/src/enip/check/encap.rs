//! The encapsulation layer: header, command data, Common Packet Format items.

use super::*;
use crate::enip::services::{command, is_command};

/// An octet of the encapsulation header.
#[inline(always)]
pub(super) fn header(
    c: &mut EnipCursor,
    session: &mut u8,
    byte: u8,
    profile: Option<&EnipProfile>,
) -> Result<(), EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    match c.pos {
        0 => {
            c.command = byte;
            c.flags = 0;
            c.phase = phase::SKIP;
            c.at = 0;
            c.nest = 0;
        }
        1 => {
            let known = is_command(c.command);
            if byte != 0 {
                // No command has a high octet.
                return Err(match profile {
                    Some(_) => EnipDenial::code(EnipViolation::Command, c.command),
                    None => malformed,
                });
            }
            match profile {
                Some(p) => {
                    if !p.allows_command(c.command) {
                        return Err(EnipDenial::code(EnipViolation::Command, c.command));
                    }
                }
                None => {
                    if !known {
                        return Err(malformed);
                    }
                }
            }
        }
        2 => c.encap_left = byte as u16,
        3 => c.encap_left |= (byte as u16) << 8,
        4..=7 => {
            if byte != 0 {
                c.flags |= cursor_flags::SESSION;
            }
        }
        8..=11 => {
            if byte != 0 {
                if profile.is_some() {
                    // A request has no status.
                    return Err(malformed);
                }
                c.flags |= cursor_flags::STATUS;
            }
        }
        12..=19 => {}
        _ => {
            if byte != 0 {
                // Options: a receiver discards a PDU with any set.
                return Err(malformed);
            }
            if c.pos == HEADER_LEN - 1 {
                end_header(c, session, profile)?;
            }
        }
    }
    Ok(())
}

/// The header is read: what its data holds, and whether the command may come now.
#[inline(always)]
pub(super) fn end_header(
    c: &mut EnipCursor,
    session: &mut u8,
    profile: Option<&EnipProfile>,
) -> Result<(), EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    let len = c.encap_left;
    let data = c.command == command::SEND_RR_DATA || c.command == command::SEND_UNIT_DATA;
    if profile.is_none() {
        c.phase = if data && c.flags & cursor_flags::STATUS == 0 && len > 0 {
            phase::CPF
        } else {
            phase::SKIP
        };
        return Ok(());
    }
    match c.command {
        command::LIST_SERVICES
        | command::LIST_IDENTITY
        | command::LIST_INTERFACES
        | command::UNREGISTER_SESSION
            if len != 0 =>
        {
            return Err(malformed);
        }
        command::REGISTER_SESSION => {
            // Protocol version and options.
            if len != 4 {
                return Err(malformed);
            }
            *session |= session::REGISTERED;
        }
        command::SEND_RR_DATA | command::SEND_UNIT_DATA => {
            if *session & session::REGISTERED == 0 || c.flags & cursor_flags::SESSION == 0 {
                return Err(EnipDenial::code(EnipViolation::Session, c.command));
            }
            // The CPF head and two item heads at least.
            if len < 16 {
                return Err(malformed);
            }
            c.phase = phase::CPF;
        }
        _ => {}
    }
    Ok(())
}

/// The end of an encapsulation PDU: its data must be complete.
#[inline(always)]
pub(super) fn end_pdu(c: &mut EnipCursor) -> Result<(), EnipDenial> {
    if c.phase != phase::SKIP && c.phase != phase::TRAILER {
        return Err(EnipDenial::new(EnipViolation::Malformed));
    }
    c.pos = 0;
    c.phase = phase::SKIP;
    c.nest = 0;
    c.flags = 0;
    Ok(())
}

/// An octet of the encapsulation data (already counted off [`EnipCursor::encap_left`]),
/// from the client (`client`) or the device.
#[inline(always)]
pub(super) fn body(c: &mut EnipCursor, byte: u8, client: bool) -> Result<bool, EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    let ph = c.phase;
    match ph {
        phase::SKIP => return Ok(false),
        phase::TRAILER => return Err(malformed),
        phase::CPF => return cpf(c, byte).map(|_| false),
        phase::ITEM_HEAD => return item_head(c, byte, client).map(|_| false),
        _ => {}
    }
    // Inside an item.
    if c.item_left == 0 {
        return Err(malformed);
    }
    c.item_left -= 1;
    if ph >= phase::CIP {
        let depth = c.depth();
        if depth >= 1 {
            if c.left[0] == 0 {
                return Err(malformed);
            }
            c.left[0] -= 1;
        }
        if depth >= 2 {
            if c.left[1] == 0 {
                return Err(malformed);
            }
            c.left[1] -= 1;
        }
    }
    // The phase's own work: the next parts of [`consume`].
    Ok(ph != phase::ITEM_SKIP && ph != phase::DATA)
}

/// An octet of the CPF head: interface handle (0), timeout, item count.
#[inline(always)]
pub(super) fn cpf(c: &mut EnipCursor, byte: u8) -> Result<(), EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    let at = c.at;
    match at {
        0..=3 => {
            if byte != 0 {
                return Err(malformed);
            }
        }
        4 | 5 => {}
        6 => c.acc = byte as u16,
        _ => {
            let count = c.acc | (byte as u16) << 8;
            if !(2..=MAX_ITEMS as u16).contains(&count) {
                return Err(malformed);
            }
            c.items = count as u8;
            c.phase = phase::ITEM_HEAD;
            c.at = 0;
            return Ok(());
        }
    }
    c.at = at + 1;
    Ok(())
}

/// An octet of an item's type id and length; the length fixes what the item holds. The
/// connection id of a client's connected address item is read ([`phase::ADDRESS`]).
#[inline(always)]
pub(super) fn item_head(c: &mut EnipCursor, byte: u8, client: bool) -> Result<(), EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    let at = c.at;
    match at {
        0 => c.acc = byte as u16,
        1 => c.acc |= (byte as u16) << 8,
        2 => c.item_left = byte as u16,
        _ => {
            let len = c.item_left | (byte as u16) << 8;
            c.item_left = len;
            if len > c.encap_left {
                return Err(malformed);
            }
            let index = c.items >> 4;
            let unit = c.command == command::SEND_UNIT_DATA;
            let ty = c.acc;
            c.flags &= !cursor_flags::DATA_ITEM;
            let ok = match index {
                0 => {
                    if unit {
                        ty == item::CONNECTED_ADDRESS && len == 4
                    } else {
                        ty == item::NULL_ADDRESS && len == 0
                    }
                }
                1 => {
                    c.flags |= cursor_flags::DATA_ITEM;
                    if unit {
                        ty == item::CONNECTED_DATA && len >= 4
                    } else {
                        ty == item::UNCONNECTED_DATA && len >= 2
                    }
                }
                _ => {
                    (ty == item::SOCKADDR_O2T || ty == item::SOCKADDR_T2O)
                        && len == item::SOCKADDR_LEN
                }
            };
            if !ok {
                return Err(malformed);
            }
            c.at = 0;
            c.nest = 0;
            c.phase = if c.flags & cursor_flags::DATA_ITEM == 0 {
                if unit && index == 0 && client {
                    phase::ADDRESS
                } else {
                    phase::ITEM_SKIP
                }
            } else if unit {
                phase::SEQUENCE
            } else {
                phase::CIP
            };
            if len == 0 {
                end_item(c)?;
            }
            return Ok(());
        }
    }
    c.at = at + 1;
    Ok(())
}

/// The end of an item: the next item's head, or the end of the CPF.
#[inline(always)]
pub(super) fn end_item(c: &mut EnipCursor) -> Result<(), EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    if c.depth() != 0 || (c.phase != phase::ITEM_SKIP && c.phase != phase::DATA) {
        // A request shorter than its head, or than the requests it nests.
        return Err(malformed);
    }
    let left = (c.items & 0x0F).saturating_sub(1);
    let index = (c.items >> 4) + 1;
    c.items = (index & 0x0F) << 4 | left;
    c.at = 0;
    c.phase = if left == 0 {
        phase::TRAILER
    } else {
        phase::ITEM_HEAD
    };
    Ok(())
}

/// An octet of the connection id in a client's connected address item (4 octets, little
/// endian, gathered in [`EnipCursor::left`], unused outside the data item): the id must be
/// one a Forward_Open reply of this flow opened.
#[inline(always)]
pub(super) fn address(
    c: &mut EnipCursor,
    byte: u8,
    conns: &EnipConnections,
) -> Result<(), EnipDenial> {
    let at = c.at;
    match at {
        0 => c.left = [byte as u16, 0],
        1 => c.left[0] |= (byte as u16) << 8,
        2 => c.left[1] = byte as u16,
        _ => {
            let id = c.left[0] as u32 | ((c.left[1] | (byte as u16) << 8) as u32) << 16;
            c.left = [0, 0];
            c.at = 0;
            c.phase = phase::ITEM_SKIP;
            if !conns.is_open(id) {
                return Err(EnipDenial::code(EnipViolation::Session, c.command));
            }
            return Ok(());
        }
    }
    c.at = at + 1;
    Ok(())
}
