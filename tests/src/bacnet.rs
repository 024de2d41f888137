//! A real BACnet/IP stack for the end-to-end tests: bacpypes3 0.0.110 (pure Python, from PyPI,
//! installed into `target/pyenv` by `cargo xtask setup`) as the device
//! (`tests/peers/bacnet_device.py`, a `NormalApplication` with one analog value) and as the
//! client (`tests/peers/bacnet_client.py`, an application of its own, one operation per run).
//!
//! bacpypes3 serves 127.x on its own port in-process, so both are bound explicitly to their
//! namespace's address and prefix (`10.30.0.2/24`), port 47808 each.
//!
//! - [`BacnetDevice`]: device 1001, `analog-value,1` with present value [`PRESENT_VALUE`];
//!   its [`DeviceState`] says the present value, how many WriteProperty requests the
//!   application processed and which Who-Is requests it received (unicast or broadcast), so a
//!   test can check that a denied request had no effect. Killed on drop.
//! - [`client`]: one bacpypes3 client operation from a namespace, its [`ClientReply`].

use std::{net::IpAddr, time::Duration};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    modbus::{Peer, START_TIMEOUT},
    netns::Netns,
    tempdir::TempDir,
};

/// The BACnet/IP port (0xBAC0).
pub const PORT: u16 = 47808;
/// The device's instance number.
pub const DEVICE_INSTANCE: u64 = 1001;
/// `analog-value,1`'s present value as the device starts.
pub const PRESENT_VALUE: f64 = 21.5;

/// What the device holds and has seen.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct DeviceState {
    pub present_value: f64,
    /// WriteProperty requests the application processed.
    pub writes: u64,
    /// The Who-Is requests the device received, oldest first.
    #[serde(default)]
    pub who_is: Vec<WhoIsSeen>,
}

/// A Who-Is the device received.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct WhoIsSeen {
    /// The sender as bacpypes3 prints it: `ADDR`, or `ADDR:PORT` when the port is not 47808.
    pub source: String,
    /// It arrived on the device's broadcast socket (sent to its subnet's broadcast address).
    pub broadcast: bool,
}

/// bacpypes3's device in a namespace.
pub struct BacnetDevice {
    peer: Peer,
    stdin: std::process::ChildStdin,
    _dir: TempDir,
}

impl BacnetDevice {
    /// Starts the device on `addr/prefix`, port [`PORT`], in `ns`.
    pub fn start(ns: &Netns, addr: IpAddr, prefix: u8) -> Result<BacnetDevice> {
        let dir = TempDir::new("bacnet-device")?;
        let mut peer = Peer::spawn(
            ns,
            "bacnet_device.py",
            &[
                "--address".into(),
                format!("{addr}/{prefix}"),
                "--port".into(),
                PORT.to_string(),
                "--instance".into(),
                DEVICE_INSTANCE.to_string(),
            ],
            dir.path().join("device.log"),
            true,
        )?;
        let stdin = peer.stdin()?;
        let line = peer.line(START_TIMEOUT)?;
        let v: Value = serde_json::from_str(&line).with_context(|| format!("ready line {line}"))?;
        if v["event"] != "ready" {
            bail!("the BACnet device said {line}{}", peer.log_tail());
        }
        Ok(BacnetDevice {
            peer,
            stdin,
            _dir: dir,
        })
    }

    /// The device's state.
    pub fn state(&mut self) -> Result<DeviceState> {
        use std::io::Write;
        writeln!(self.stdin, "state").context("writing to the BACnet device")?;
        let line = self.peer.line(Duration::from_secs(5))?;
        serde_json::from_str(&line).with_context(|| format!("state line {line}"))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.peer.log).unwrap_or_default()
    }
}

/// What a client run saw.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ClientReply {
    pub ok: bool,
    /// ReadProperty: the present value; ReadPropertyMultiple: property name → value.
    #[serde(default)]
    pub value: Option<Value>,
    /// Who-Is: the instances of the devices that answered with an I-Am.
    #[serde(default)]
    pub devices: Option<Vec<u64>>,
    #[serde(default)]
    pub error: Option<String>,
}

/// One client operation (`bacnet_client.py LOCAL/PREFIX DEVICE OP ARGS`) from `ns`, bound to
/// `local/prefix`, to the device at `device` (for `who_is_broadcast`: the broadcast address
/// the Who-Is is sent to as an Original-Broadcast-NPDU).
pub fn client(
    ns: &Netns,
    local: IpAddr,
    prefix: u8,
    device: IpAddr,
    op: &str,
    args: &[&str],
) -> Result<ClientReply> {
    let dir = TempDir::new("bacnet-client")?;
    let mut argv = vec![
        format!("{local}/{prefix}"),
        device.to_string(),
        op.to_owned(),
    ];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    let mut peer = Peer::spawn(
        ns,
        "bacnet_client.py",
        &argv,
        dir.path().join("client.log"),
        false,
    )?;
    let line = peer.line(Duration::from_secs(30))?;
    serde_json::from_str(&line).with_context(|| format!("client line {line}"))
}
