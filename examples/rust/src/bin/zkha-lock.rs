//! `zkha-lock CONNECT PATH HOLD_MS`: takes a zkha mutex, prints `ACQUIRED <token>`, holds it
//! for HOLD_MS, releases and prints `RELEASED`. Used by the C and Python suites to show
//! exclusion between processes in different languages; handy from a shell too.

use std::time::Duration;

use zkha::{Client, ClientOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: zkha-lock CONNECT PATH HOLD_MS");
        std::process::exit(2);
    }
    let hold: u64 = args[3].parse().unwrap_or_else(|_| {
        eprintln!("HOLD_MS {:?} is not a number", args[3]);
        std::process::exit(2)
    });
    let run = || -> zkha::Result<()> {
        let client = Client::connect_blocking(
            ClientOptions::new(args[1].clone()).session_timeout(Duration::from_secs(10)),
        )?;
        let m = client.mutex(&args[2])?;
        let guard = zkha::runtime::block_on(async move { m.acquire(None).await })?;
        println!("ACQUIRED {}", guard.fencing_token());
        std::thread::sleep(Duration::from_millis(hold));
        zkha::runtime::block_on(async move { guard.release().await })?;
        println!("RELEASED");
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("zkha-lock: {e}");
        std::process::exit(1);
    }
}
