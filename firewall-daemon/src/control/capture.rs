//! The capture record: one JSON line per denied (or alerted) frame the data path copied for
//! `zcfw capture` (docs/capture.md). The frame's first bytes travel as hex; `zcfw capture`
//! writes them to pcapng with the rest in each packet's comment.

use serde::{Deserialize, Serialize};

/// One line of a capture stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CaptureLine {
    /// A client too slow to keep up missed this many frames.
    Missed {
        missed_frames: u64,
    },
    Frame(CapturedFrame),
}

/// A denied or alerted frame, as far as the data path copied it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedFrame {
    /// Unix time of the frame, in nanoseconds.
    pub time_ns: u64,
    /// The interface it arrived on (its index when the name is unknown).
    pub interface: String,
    /// Length of the frame on the wire.
    pub len: u32,
    /// `drop`, `reset`, `exception` or `alert`.
    pub action: String,
    pub reason: String,
    /// The conduit whose inspection or rate limit denied it (absent for policy denies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conduit: Option<String>,
    /// Zones of the source and destination addresses (absent when not IP or in no zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_zone: Option<String>,
    /// Policy generation in force.
    pub generation: u32,
    /// The first bytes of the frame (at most `firewall_common::capture::SNAPLEN`), in hex.
    pub data: String,
}

impl CapturedFrame {
    /// The pcapng packet comment: what zcfw did with the frame and why.
    pub fn comment(&self) -> String {
        let mut out = format!("zcfw {} reason={}", self.action, self.reason);
        if let Some(c) = &self.conduit {
            out.push_str(&format!(" conduit={c}"));
        }
        out.push_str(&format!(
            " from={} to={} interface={} generation={}",
            self.src_zone.as_deref().unwrap_or("-"),
            self.dst_zone.as_deref().unwrap_or("-"),
            self.interface,
            self.generation
        ));
        out
    }

    /// The captured bytes; `None` if `data` is not hex.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        from_hex(&self.data)
    }
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// The bytes of hex text; `None` if it is not an even number of hex digits.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |c: u8| (c as char).to_digit(16);
            Some((digit(pair[0])? << 4 | digit(pair[1])?) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_garbage() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(from_hex(&to_hex(&bytes)), Some(bytes));
        assert_eq!(to_hex(&[0x0a, 0xff]), "0aff");
        assert_eq!(from_hex("0g"), None);
        assert_eq!(from_hex("abc"), None);
    }

    #[test]
    fn the_comment_says_action_reason_conduit_and_zones() {
        let frame = CapturedFrame {
            time_ns: 1,
            interface: "eth0".into(),
            len: 60,
            action: "drop".into(),
            reason: "modbus_function".into(),
            conduit: Some("hmi-to-plc".into()),
            src_zone: Some("office".into()),
            dst_zone: None,
            generation: 3,
            data: String::new(),
        };
        assert_eq!(
            frame.comment(),
            "zcfw drop reason=modbus_function conduit=hmi-to-plc from=office to=- interface=eth0 generation=3"
        );
        let line = serde_json::to_string(&CaptureLine::Frame(frame.clone())).unwrap();
        assert_eq!(
            serde_json::from_str::<CaptureLine>(&line).unwrap(),
            CaptureLine::Frame(frame)
        );
        let missed: CaptureLine = serde_json::from_str(r#"{"missed_frames":4}"#).unwrap();
        assert_eq!(missed, CaptureLine::Missed { missed_frames: 4 });
    }
}
