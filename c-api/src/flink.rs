//! The Flink view from C: core's `ClusterView` status as JSON.

use std::ffi::c_char;

use zkha::flink::{ClusterView, FlinkLayout};

use crate::{
    block, bytes_out, guard, null, obj, out, text, zkha_bytes, zkha_client, zkha_error, zkha_status,
};

/// The status of the Flink cluster under `root` (`<path.root>/<cluster-id>`, e.g.
/// `/flink/default`) as JSON text in `*out_json` (free with zkha_bytes_free; not
/// NUL-terminated): `{"root", "leaders": {component: {component, address,
/// leader_session_id} | null}, "jobs": {job id: {leader, latest_checkpoint: {id, location,
/// state_size, handle_class, znode} | null, checkpoint_counter, error?}}}` — the document
/// `zkha flink status --json` prints, read by the same core code.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_flink_status(
    client: *const zkha_client,
    root: *const c_char,
    out_json: *mut zkha_bytes,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?.client.clone();
        let root = unsafe { text(root, "root") }?.to_string();
        if out_json.is_null() {
            return Err(null("out_json"));
        }
        let view = ClusterView::new(c, FlinkLayout::new(root));
        let json = block(async move { Ok(view.status().await?.to_json()) })?;
        unsafe { out(out_json, "out_json", bytes_out(json.into_bytes())) }
    })
}
