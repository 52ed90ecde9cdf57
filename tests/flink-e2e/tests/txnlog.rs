//! The transaction-log reader against a real ZooKeeper server: what a client wrote is found
//! under its session, with paths, data and failed requests as errors.

use std::time::Duration;

use zkha::{Client, ClientOptions, ElectionOptions, Op};
use zkha_flink_e2e::txnlog::{self, op};
use zkha_testkit::{Ensemble, Options};

fn set(data: &str) -> Op {
    Op::SetData {
        path: "/txnlog/a".into(),
        data: data.as_bytes().to_vec(),
        version: None,
    }
}

#[test]
fn reads_who_wrote_what_from_a_real_servers_log() {
    let zk = Ensemble::start(1, Options::default()).expect("ensemble");
    let (session, other) = zkha::runtime::block_on({
        let connect = zk.connect_string();
        async move {
            let opts = ClientOptions::new(connect).session_timeout(Duration::from_secs(4));
            let a = Client::connect(opts.clone()).await?;
            let b = Client::connect(opts).await?;
            a.put("/txnlog/a", b"hello").await?;
            a.put("/txnlog/a", b"again").await?;
            // The leader's fenced multi passes; once its latch node is gone, the same fence
            // is refused by the server: an error transaction, nothing written.
            let leader = a.election("/txnlog/latch", ElectionOptions::new("leader-a"))?;
            leader.wait_for_leadership(Duration::from_secs(10)).await?;
            let standby = b.election("/txnlog/latch", ElectionOptions::new("standby-b"))?;
            while standby.node().is_none() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let fence = leader.fence()?;
            fence.multi(vec![set("fenced")]).await?;
            leader.close().await;
            assert!(
                fence.multi(vec![set("stale")]).await.is_err(),
                "a stale fence is refused"
            );
            standby.close().await;
            b.delete_recursive("/txnlog/a").await?;
            Ok((a.session_id(), b.session_id()))
        }
    })
    .expect("writes");
    let txns = txnlog::read_dir(&txnlog::ensemble_data_dir(&zk, 1)).expect("read the log");
    let by = |s: i64| txns.iter().filter(move |t| t.session == s);

    assert!(
        by(session).any(|t| t.op == op::CREATE_SESSION),
        "its createSession"
    );
    let data: Vec<Vec<u8>> = by(session)
        .flat_map(|t| t.writes().cloned().collect::<Vec<_>>())
        .filter(|o| o.path.as_deref() == Some("/txnlog/a"))
        .filter_map(|o| o.data)
        .collect();
    assert_eq!(
        data,
        vec![b"hello".to_vec(), b"again".to_vec(), b"fenced".to_vec()],
        "the create, the setData and the fenced multi's setData of /txnlog/a, in order"
    );
    let create = by(session)
        .flat_map(|t| t.writes().cloned().collect::<Vec<_>>())
        .find(|o| {
            matches!(o.op, op::CREATE | op::CREATE2) && o.path.as_deref() == Some("/txnlog/a")
        })
        .expect("the create of /txnlog/a");
    assert_eq!(
        create.acl,
        Some(vec!["31 world:anyone".to_string()]),
        "the create carries its ACL (open: every permission for anyone)"
    );
    let multi = by(session)
        .find(|t| t.op == op::MULTI)
        .expect("the fenced multi");
    assert_eq!(
        multi.ops[0].op,
        op::CHECK,
        "a fenced multi checks the latch node first"
    );
    assert!(multi.ops[0]
        .path
        .as_deref()
        .is_some_and(|p| p.starts_with("/txnlog/latch/")));
    let latch_data: Vec<Vec<u8>> = by(other)
        .flat_map(|t| t.writes().cloned().collect::<Vec<_>>())
        .filter(|o| {
            o.path
                .as_deref()
                .is_some_and(|p| p.starts_with("/txnlog/latch/"))
        })
        .filter_map(|o| o.data)
        .collect();
    assert_eq!(
        latch_data,
        vec![b"standby-b".to_vec()],
        "the latch node holds the participant id"
    );
    assert!(
        by(other).any(|t| t
            .writes()
            .any(|o| o.op == op::DELETE && o.path.as_deref() == Some("/txnlog/a"))),
        "the other session deleted /txnlog/a"
    );
    assert!(
        txns.windows(2).all(|w| w[0].zxid < w[1].zxid),
        "in zxid order"
    );
}
