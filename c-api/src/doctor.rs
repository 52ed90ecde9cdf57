//! `zkha doctor` from C: core's checks of an ensemble and a Flink cluster's HA setup.

use std::ffi::c_char;
use std::time::Duration;

use zkha::doctor::{self, DoctorOptions};
use zkha::flink::FlinkConfig;

use crate::{
    block, bytes_out, guard, null, opt_text, out, zkha_bytes, zkha_error, zkha_options, zkha_status,
};

/// Runs the doctor's checks (docs/doctor.md): of the ensemble and security
/// that `options` describe, or, with `flink_config` (a path to `config.yaml` or
/// `flink-conf.yaml`; `options` may then be NULL), of that Flink cluster too. `admin`: the
/// servers' AdminServer addresses, comma-separated (`host:port,...` in connect-string order,
/// or `:port` for all; NULL: none); `timeout_ms` per probe (0: 3000). `*out_passed` is false if
/// a check failed; `*out_json` (free with zkha_bytes_free; not NUL-terminated) is the report,
/// `{"passed", "checks": [{"name", "status", "summary", "fix"?, "details"?}]}`. A check that
/// cannot run is reported, not returned as an error; errors are for bad arguments only.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_doctor_run(
    options: *const zkha_options,
    flink_config: *const c_char,
    admin: *const c_char,
    timeout_ms: u64,
    out_passed: *mut bool,
    out_json: *mut zkha_bytes,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        if out_passed.is_null() {
            return Err(null("out_passed"));
        }
        if out_json.is_null() {
            return Err(null("out_json"));
        }
        let conf = unsafe { opt_text(flink_config, "flink_config") }?;
        let mut o = match conf {
            Some(path) => DoctorOptions::from_flink_config(FlinkConfig::load(path)?)?,
            None => {
                let opts = unsafe { options.as_ref() }.ok_or_else(|| null("options"))?;
                DoctorOptions::new(opts.options.clone())
            }
        };
        if let Some(a) = unsafe { opt_text(admin, "admin") }? {
            o.admin = a
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
        if timeout_ms > 0 {
            o.timeout = Duration::from_millis(timeout_ms);
        }
        let report = block(async move { Ok(doctor::run(&o).await) })?;
        unsafe { out(out_passed, "out_passed", report.passed()) }?;
        unsafe {
            out(
                out_json,
                "out_json",
                bytes_out(report.to_json().into_bytes()),
            )
        }
    })
}
