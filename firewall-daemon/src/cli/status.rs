//! `zcfw status`: what the running daemon enforces.

use serde_json::Value;

use super::SocketArgs;
use crate::control::Request;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub socket: SocketArgs,
    /// Print the status as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &StatusArgs) -> u8 {
    super::query_and_print(&args.socket.socket, &Request::Status, args.json, render)
}

fn render(data: &Value) -> String {
    let p = &data["policy"];
    let s = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    let mut out = format!(
        "policy      {} (sha256 {})\nfile        {}\ngeneration  {} (loaded in {:.1} ms)\nconduits    {} across {} zones\n",
        s(&p["name"]),
        s(&p["hash"]),
        s(&p["path"]),
        p["generation"].as_u64().unwrap_or(0),
        p["load_ms"].as_f64().unwrap_or(0.0),
        p["conduits"].as_u64().unwrap_or(0),
        p["zones"].as_u64().unwrap_or(0),
    );
    if data["mode"].as_str() == Some("monitor") {
        out.push_str(
            "mode        MONITOR: the policy does not enforce; would-be denies pass as alerts\n",
        );
    } else {
        out.push_str("mode        enforce\n");
    }
    let monitored: Vec<String> = data["monitor_conduits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    if !monitored.is_empty() {
        out.push_str(&format!(
            "monitoring  {} (not enforcing: their would-be denies pass as alerts)\n",
            monitored.join(", ")
        ));
    }
    let island = data["island"].as_bool().unwrap_or(false);
    out.push_str(&format!(
        "island      {}\n",
        if island {
            "ON: nothing crosses a zone boundary"
        } else {
            "off"
        }
    ));
    match data["pin_dir"].as_str() {
        Some(dir) => out.push_str(&format!(
            "pinned      {dir} (the policy stays enforced if the daemon stops)\n"
        )),
        None => out.push_str("pinned      no (ephemeral: XDP is detached when the daemon stops)\n"),
    }
    out.push_str(&format!(
        "uptime      {} s\ninterfaces  (attachment as the kernel reports it)\n",
        data["uptime_s"].as_u64().unwrap_or(0)
    ));
    for i in data["interfaces"].as_array().into_iter().flatten() {
        let enforced = i["enforced"].as_bool().unwrap_or(false);
        out.push_str(&format!(
            "  {:<16} ifindex {:<6} xdp {}{}\n",
            s(&i["name"]),
            i["ifindex"],
            s(&i["xdp_mode"]),
            if enforced { "" } else { "  NOT ENFORCED" }
        ));
    }
    out.push_str(&render_check(&data["xdp_check"]));
    out
}

/// The attachment check: when, how often repaired, and what is not enforced.
fn render_check(check: &Value) -> String {
    let mut out = format!(
        "xdp check   every {} s, last {}; {} repairs since start\n",
        check["interval_s"].as_f64().unwrap_or(0.0),
        match check["last_s_ago"].as_f64() {
            Some(s) => format!("{s:.1} s ago"),
            None => "never".to_owned(),
        },
        check["repairs"].as_u64().unwrap_or(0),
    );
    for lost in check["not_enforced"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "NOT ENFORCED {}: {}\n",
            lost["interface"].as_str().unwrap_or("?"),
            lost["why"].as_str().unwrap_or("?")
        ));
    }
    out
}
