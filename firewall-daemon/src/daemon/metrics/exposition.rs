//! Which text format a scrape gets, from its `Accept` header: OpenMetrics 1.0.0
//! (`application/openmetrics-text; version=1.0.0`, ends with `# EOF`) or the Prometheus text
//! format 0.0.4 (`text/plain; version=0.0.4`). The metrics are encoded once, as OpenMetrics
//! (`prometheus-client`), and rewritten into the older format when that is the one asked for.

/// A text exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    PrometheusText,
}

impl Format {
    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// The format an `Accept` header prefers (RFC 9110 q-values; among equal weights the
    /// first listed wins). Without a header, with only wildcards, or with nothing this
    /// endpoint serves, the Prometheus text format: every scraper and `curl` reads it, and
    /// Prometheus itself asks for OpenMetrics by name.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::PrometheusText;
        };
        let mut best: Option<(u16, Format)> = None;
        for range in accept.split(',') {
            let Some((format, q)) = media_range(range) else {
                continue;
            };
            if q > 0 && best.is_none_or(|(best_q, _)| q > best_q) {
                best = Some((q, format));
            }
        }
        best.map_or(Format::PrometheusText, |(_, f)| f)
    }

    /// `openmetrics` (OpenMetrics text, as `prometheus-client` writes it) in this format.
    pub fn encode(self, openmetrics: String) -> String {
        match self {
            Format::OpenMetrics => openmetrics,
            Format::PrometheusText => to_prometheus_text(&openmetrics),
        }
    }
}

/// What one media range of an `Accept` header selects, and its weight in thousandths.
/// `None` for a range this endpoint cannot serve (another type, another version).
fn media_range(range: &str) -> Option<(Format, u16)> {
    let mut parts = range.split(';');
    let media = parts.next()?.trim().to_ascii_lowercase();
    let mut version = None;
    let mut q = 1000;
    for param in parts {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        match key.trim().to_ascii_lowercase().as_str() {
            "version" => version = Some(value.to_owned()),
            "q" => q = weight(value)?,
            _ => {}
        }
    }
    let format = match (media.as_str(), version.as_deref()) {
        ("application/openmetrics-text", None | Some("1.0.0")) => Format::OpenMetrics,
        ("text/plain", None | Some("0.0.4")) => Format::PrometheusText,
        ("*/*" | "text/*", None) => Format::PrometheusText,
        ("application/*", None) => Format::OpenMetrics,
        _ => return None,
    };
    Some((format, q))
}

/// `0.5` as 500; `None` for what is not a q-value.
fn weight(value: &str) -> Option<u16> {
    let q: f64 = value.parse().ok()?;
    (0.0..=1.0)
        .contains(&q)
        .then(|| (q * 1000.0).round() as u16)
}

/// OpenMetrics text rewritten into the Prometheus text format 0.0.4: no `# EOF` and no
/// `# UNIT`; a counter (info) family is named as its samples, `x_total` (`x_info`), as
/// Prometheus' own clients write it; the types 0.0.4 lacks become the nearest it has. Samples, labels and escaping
/// are the same in both.
fn to_prometheus_text(openmetrics: &str) -> String {
    // Families whose samples carry a suffix OpenMetrics leaves off the family name.
    let suffixed: std::collections::HashMap<&str, &str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(name, kind)| match kind {
            "counter" => Some((name, "_total")),
            "info" => Some((name, "_info")),
            _ => None,
        })
        .collect();
    let family = |name: &str| match suffixed.get(name) {
        Some(suffix) => format!("{name}{suffix}"),
        None => name.to_owned(),
    };
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            // 0.0.4 escapes only `\` and newlines in help texts.
            out.push_str(&format!(
                "# HELP {} {}\n",
                family(name),
                help.replace("\\\"", "\"")
            ));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let kind = match kind {
                "counter" | "gauge" | "histogram" | "summary" => kind,
                "gaugehistogram" => "histogram",
                "info" | "stateset" => "gauge",
                _ => "untyped",
            };
            out.push_str(&format!("# TYPE {} {kind}\n", family(name)));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Prometheus 3 sends.
    const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

    #[test]
    fn negotiation() {
        use Format::*;
        assert_eq!(Format::negotiate(Some(PROMETHEUS_ACCEPT)), OpenMetrics);
        assert_eq!(Format::negotiate(None), PrometheusText);
        assert_eq!(Format::negotiate(Some("*/*")), PrometheusText);
        assert_eq!(Format::negotiate(Some("text/plain")), PrometheusText);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text")),
            OpenMetrics
        );
        // Weights decide, not the order.
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text; version=1.0.0; q=0.2, text/plain; version=0.0.4"
            )),
            PrometheusText
        );
        // Versions this endpoint does not write are not chosen.
        assert_eq!(
            Format::negotiate(Some(
                "text/plain;version=1.0.0,application/openmetrics-text;version=1.0.0;q=0.1"
            )),
            OpenMetrics
        );
        // q=0 refuses; nothing servable falls back to the text format.
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0, text/plain;q=0.1")),
            PrometheusText
        );
        assert_eq!(Format::negotiate(Some("application/json")), PrometheusText);
        assert_eq!(Format::negotiate(Some("garbage;q=x,,;")), PrometheusText);
        assert_eq!(
            Format::negotiate(Some("Application/OpenMetrics-Text; Version=\"1.0.0\"")),
            OpenMetrics
        );
    }

    #[test]
    fn prometheus_text_from_openmetrics() {
        let om = "# HELP zcfw_packets Packets decided, by reason\n\
                  # TYPE zcfw_packets counter\n\
                  zcfw_packets_total{reason=\"default_deny\",verdict=\"drop\"} 12\n\
                  # HELP zcfw_policy_load_seconds Time \\\"load\\\" took\n\
                  # TYPE zcfw_policy_load_seconds gauge\n\
                  # UNIT zcfw_policy_load_seconds seconds\n\
                  zcfw_policy_load_seconds 0.25\n\
                  # HELP zcfw_build Build\n\
                  # TYPE zcfw_build info\n\
                  zcfw_build_info{version=\"a\\\"b\"} 1\n\
                  # EOF\n";
        assert_eq!(
            Format::PrometheusText.encode(om.to_owned()),
            "# HELP zcfw_packets_total Packets decided, by reason\n\
             # TYPE zcfw_packets_total counter\n\
             zcfw_packets_total{reason=\"default_deny\",verdict=\"drop\"} 12\n\
             # HELP zcfw_policy_load_seconds Time \"load\" took\n\
             # TYPE zcfw_policy_load_seconds gauge\n\
             zcfw_policy_load_seconds 0.25\n\
             # HELP zcfw_build_info Build\n\
             # TYPE zcfw_build_info gauge\n\
             zcfw_build_info{version=\"a\\\"b\"} 1\n"
        );
        assert_eq!(Format::OpenMetrics.encode(om.to_owned()), om);
    }
}
