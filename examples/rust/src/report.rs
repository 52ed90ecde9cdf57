//! What the bench programs share (through `#[path]`): their environment knobs and their JSON
//! lines `{metric, value, unit, config, ...}`.

/// The number in environment variable `key`, or `default`.
pub fn env_num(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Prints one JSON line: `metric`, `value` (rounded to 3 decimals), `unit`, `config`, and the
/// fields of `extra`.
pub fn emit(metric: &str, value: f64, unit: &str, config: &str, extra: serde_json::Value) {
    let mut line = serde_json::json!({"metric": metric, "value": (value * 1000.0).round() / 1000.0, "unit": unit, "config": config});
    if let (Some(obj), Some(extra)) = (line.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            obj.insert(k.clone(), v.clone());
        }
    }
    println!("{line}");
}

/// The `q` quantile (0..=1) of `samples` (sorted in place; NaN if empty).
pub fn percentile(samples: &mut [f64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let idx = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples[idx.min(samples.len() - 1)]
}
