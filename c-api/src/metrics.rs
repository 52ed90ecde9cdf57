//! Metrics from C: the options that serve them over HTTP (Prometheus), a client's counters,
//! and every live client's metrics as OpenMetrics text.

use std::ffi::c_char;

use crate::options::with_options;
use crate::{
    bytes_out, guard, obj, opt_text, out, text, zkha_bytes, zkha_client, zkha_error, zkha_options,
    zkha_status,
};

/// Serves the client's metrics over HTTP for Prometheus (`http://host:port/metrics`, in the
/// OpenMetrics text format): `host` an IP address (NULL: 0.0.0.0, every interface), `port`
/// (0: any free one), or the first free port of `port`..`port_end` (`port_end` 0: only
/// `port`). Clients of one process asking for the same address share one endpoint. A bad host
/// or range is refused naming it, the options unchanged.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_metrics_listen(
    options: *mut zkha_options,
    host: *const c_char,
    port: u16,
    port_end: u16,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_options(options, err, |o| {
        let host = unsafe { opt_text(host, "host") }?;
        o.metrics
            .serve_at(host, port, (port_end != 0).then_some(port_end))?;
        Ok(())
    })
}

/// Adds a label to every series of the client (e.g. `cluster_id`, `component`). A name that
/// is not a Prometheus label name, is zkha's own (`client`, `state`, `reason`, `le`) or is
/// given twice is refused naming it, the options unchanged.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_add_metrics_label(
    options: *mut zkha_options,
    name: *const c_char,
    value: *const c_char,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_options(options, err, |o| {
        let mut m = o.metrics.clone();
        m.labels.push((
            unsafe { text(name, "name") }?.to_string(),
            unsafe { text(value, "value") }?.to_string(),
        ));
        m.validate()?;
        o.metrics = m;
        Ok(())
    })
}

/// The client's counters as a JSON object in `*out_json` (free with zkha_bytes_free; not
/// NUL-terminated): `grants`, `revokes`, `revokes_by_reason` (`[[reason, count], ...]`),
/// `leading`, `op_latency` and the others (docs/metrics.md).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_client_metrics_json(
    client: *const zkha_client,
    out_json: *mut zkha_bytes,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let json = unsafe { obj(client, "client") }?.client.metrics().to_json();
        unsafe { out(out_json, "out_json", bytes_out(json.into_bytes())) }
    })
}

/// The port the client's metrics endpoint listens on in `*out_port` (0 if it serves none).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_client_metrics_port(
    client: *const zkha_client,
    out_port: *mut u16,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?;
        let port = c.client.metrics_address().map_or(0, |a| a.port());
        unsafe { out(out_port, "out_port", port) }
    })
}

/// Every live client's metrics in this process as OpenMetrics text (what Prometheus scrapes)
/// in `*out_text` (free with zkha_bytes_free; not NUL-terminated), for a service that serves
/// or pushes metrics itself.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_metrics_text(
    out_text: *mut zkha_bytes,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let body = zkha::metrics::openmetrics_text();
        unsafe { out(out_text, "out_text", bytes_out(body.into_bytes())) }
    })
}
