//! The Flink view from C: core's `ClusterView` status as JSON.

use std::ffi::c_char;

use zkha::flink::{ClusterView, FlinkLayout};
use zkha::StepDownOptions;

use crate::{
    block, bytes_out, guard, ms, null, obj, out, text, zkha_bytes, zkha_client, zkha_error,
    zkha_status,
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

/// Runs a step-down for `zkha_step_down` and `zkha_flink_step_down`: `run` gets the client,
/// the path argument `arg` (named `what` in errors) and the options; its report goes to
/// `*out_json` (if not NULL) as JSON text (free with zkha_bytes_free; not NUL-terminated).
#[allow(clippy::too_many_arguments)]
fn step_down_call<F>(
    client: *const zkha_client,
    arg: *const c_char,
    what: &str,
    force: bool,
    timeout_ms: u64,
    out_json: *mut zkha_bytes,
    err: *mut *mut zkha_error,
    run: impl FnOnce(zkha::Client, String, StepDownOptions) -> F,
) -> zkha_status
where
    F: std::future::Future<Output = zkha::Result<zkha::StepDown>> + Send + 'static,
{
    guard(err, || {
        let c = unsafe { obj(client, "client") }?.client.clone();
        let arg = unsafe { text(arg, what) }?.to_string();
        let options = StepDownOptions {
            force,
            timeout: ms(timeout_ms),
        };
        let json = block(run(c, arg, options))?.to_json();
        if out_json.is_null() {
            return Ok(());
        }
        unsafe { out(out_json, "out_json", bytes_out(json.into_bytes())) }
    })
}

/// Makes the leader of the election on `latch_path` hand over to its next contender without
/// a restart, and waits up to `timeout_ms` (ZKHA_WAIT_FOREVER: without limit) until that one
/// leads. The leader is asked through its latch node (a zkha leader revokes with
/// ZKHA_REASON_STEP_DOWN, and its fenced writes fail from the request on). Refused with
/// ZKHA_STATUS_INVALID_ARGUMENT, nothing written, when there is no standby, or when the leader
/// or the next contender is not a zkha contender (Curator, Flink's built-in HA) unless `force`;
/// ZKHA_STATUS_NO_NODE with no contender; ZKHA_STATUS_TIMEOUT if the hand-over did not finish
/// in time (`timeout_ms` 0 sends the request and returns it at once; the hand-over goes on),
/// every error after the request saying that it was sent. `*out_json` (may be NULL) receives
/// the report (see `zkha_flink_step_down`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_step_down(
    client: *const zkha_client,
    latch_path: *const c_char,
    force: bool,
    timeout_ms: u64,
    out_json: *mut zkha_bytes,
    err: *mut *mut zkha_error,
) -> zkha_status {
    let run = |c: zkha::Client, latch: String, options: StepDownOptions| async move {
        c.step_down(&latch, &options).await
    };
    step_down_call(
        client,
        latch_path,
        "latch_path",
        force,
        timeout_ms,
        out_json,
        err,
        run,
    )
}

/// Makes the leading JobManager of the Flink cluster under `root` (`<path.root>/<cluster-id>`)
/// hand over to a standby without a restart (`zkha flink step-down`): `zkha_step_down` on its
/// latch, then waits until the new leader has published its REST address and the old one has
/// joined again as a standby. `*out_json` (may be NULL) receives the report with its timeline:
/// `{"latch_path", "leader", "successor", "new_leader": {node, participant_id, session, zkha}
/// | null, "forced", "how", "released_ms", "new_leader_ms", "timeline": [{at_ms, what}]}`
/// (free with zkha_bytes_free; not NUL-terminated).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_flink_step_down(
    client: *const zkha_client,
    root: *const c_char,
    force: bool,
    timeout_ms: u64,
    out_json: *mut zkha_bytes,
    err: *mut *mut zkha_error,
) -> zkha_status {
    let run = |c: zkha::Client, root: String, options: StepDownOptions| async move {
        ClusterView::new(c, FlinkLayout::new(root))
            .step_down(&options)
            .await
    };
    step_down_call(client, root, "root", force, timeout_ms, out_json, err, run)
}
