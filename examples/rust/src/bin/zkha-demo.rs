//! `make demo`: a local three-node ZooKeeper ensemble, its roles, a client session, and a
//! leader failover of the ensemble itself; everything is stopped at the end (also on Ctrl-C,
//! since the server JVMs die with this process).

use std::time::{Duration, Instant};

use zkha_testkit::{Ensemble, Options};
use zookeeper_client::{Acls, Client, CreateMode};

fn main() {
    if let Err(e) = run() {
        eprintln!("demo failed: {e}");
        std::process::exit(1);
    }
}

fn step(msg: &str) {
    println!("==> {msg}");
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    step("starting a 3-node ZooKeeper ensemble on 127.0.0.1 (jars cached in .cache/)");
    let t = Instant::now();
    let zk = Ensemble::start(3, Options::default())?;
    println!(
        "    quorum after {:.1} s: {}",
        t.elapsed().as_secs_f64(),
        zk.options().describe(zk.len())
    );
    print_roles(&zk);
    println!("    connect string: {}", zk.connect_string());

    rt.block_on(async {
        step("connecting a client");
        let client = Client::connector()
            .with_session_timeout(Duration::from_secs(4))
            .connect(&zk.connect_string())
            .await?;
        println!(
            "    session 0x{:x}, negotiated timeout {} ms",
            client.session_id().0,
            client.session_timeout().as_millis()
        );
        client
            .create(
                "/zkha-demo",
                b"hello",
                &CreateMode::Ephemeral.with_acls(Acls::anyone_all()),
            )
            .await?;

        let leader = zk.leader().ok_or("no ensemble leader")?;
        step(&format!(
            "killing the ensemble leader (node {leader}) with SIGKILL"
        ));
        let t = Instant::now();
        zk.node(leader).kill()?;
        zk.wait_quorum(Duration::from_secs(30))?;
        println!(
            "    node {} leads after {} ms",
            zk.leader().ok_or("no leader")?,
            t.elapsed().as_millis()
        );
        let (data, _) = loop {
            match client.get_data("/zkha-demo").await {
                Ok(v) => break v,
                Err(_) if t.elapsed() < Duration::from_secs(10) => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => return Err(e.into()),
            }
        };
        println!(
            "    the client kept session 0x{:x} and reads {:?}",
            client.session_id().0,
            String::from_utf8_lossy(&data)
        );
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    print_roles(&zk);
    step("stopping the ensemble");
    drop(zk);
    println!("    done: no ZooKeeper process is left running");
    Ok(())
}

fn print_roles(zk: &Ensemble) {
    for n in zk.status() {
        let role = match (n.pid, n.mode) {
            (None, _) => "down".to_string(),
            (Some(_), Some(m)) => format!("{m:?}").to_lowercase(),
            (Some(_), None) => "not serving".to_string(),
        };
        println!("    node {} 127.0.0.1:{:<5} {role}", n.id, n.client_port);
    }
}
