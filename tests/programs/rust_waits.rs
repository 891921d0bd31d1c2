// tests/programs/rust_waits.rs - Rust's std waits below pthreads: Mutex and
// Condvar are futexes that std waits on with syscall(SYS_futex, ...).
//   contender   locks a Mutex main holds until +80 ms
//   cond_waiter waits on a Condvar until main notifies at +130 ms
// Each thread measures its own wait; main prints, after joining:
//   contender ns=<ns>
//   cond_waiter ns=<ns>
//   rust_waits: done
// Built by the test with rustc -O -g (the test compiles it: no cargo).
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[inline(never)]
fn contender(m: Arc<Mutex<u64>>) -> u128 {
    let t0 = Instant::now();
    let mut g = m.lock().unwrap();
    let ns = t0.elapsed().as_nanos();
    *g += 1;
    ns
}

#[inline(never)]
fn cond_waiter(p: Arc<(Mutex<bool>, Condvar)>) -> u128 {
    let (lock, cv) = &*p;
    let mut ready = lock.lock().unwrap();
    let mut ns = 0;
    while !*ready {
        let t0 = Instant::now();
        ready = cv.wait(ready).unwrap();
        ns += t0.elapsed().as_nanos();
    }
    ns
}

fn main() {
    let start = Instant::now();
    let until = |ms: u64| {
        let d = Duration::from_millis(ms);
        while start.elapsed() < d {
            thread::sleep(d - start.elapsed());
        }
    };
    let m = Arc::new(Mutex::new(0u64));
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let guard = m.lock().unwrap();
    let m2 = m.clone();
    let a = thread::Builder::new().name("contender".into()).spawn(move || contender(m2)).unwrap();
    let p2 = pair.clone();
    let b = thread::Builder::new().name("cond_waiter".into()).spawn(move || cond_waiter(p2)).unwrap();
    until(80);
    drop(guard);
    until(130);
    {
        let (lock, cv) = &*pair;
        *lock.lock().unwrap() = true;
        cv.notify_one();
    }
    let (na, nb) = (a.join().unwrap(), b.join().unwrap());
    println!("contender ns={}", na);
    println!("cond_waiter ns={}", nb);
    println!("rust_waits: done {}", *m.lock().unwrap());
}
