//! Engine throughput on generated data and the example model.
//!
//! * `incremental/live`: the server's path: each event applied to the contact's
//!   compact state, time advanced to it (settling it and re-checking the stage).
//! * `incremental/live+triggers`: the same, recording trigger edges (what the service
//!   does to fire webhooks; the example model's `score >= 80` trigger needs the score
//!   at most checkpoints).
//! * `incremental/bulk`: all of a contact's events applied, time advanced once.
//! * `incremental/result`: the result with its explanation from a settled state.
//! * `batch/score`: the batch path including the result and its explanation.
//! * `classify`: parsed event -> class (rule matching, incl. globs and regexes).
//!
//! Throughput is reported in events per second (criterion's `elem/s`).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use leadscore_bench::{example_engine, generated};
use leadscore_engine::ContactState;
use leadscore_formats::parse_message;

const AS_OF: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

fn engine_benches(c: &mut Criterion) {
    let engine = example_engine();
    let (contacts, _) = generated(&engine, 2_000);
    let events: u64 = contacts.iter().map(|c| c.events.len() as u64).sum();

    let mut group = c.benchmark_group("incremental");
    group.throughput(Throughput::Elements(events));
    // States are created outside the timing: a server creates a contact's state once
    // and then applies events to it for its whole life.
    let fresh = || -> Vec<ContactState> {
        contacts
            .iter()
            .map(|c| engine.new_state(c.attributes.clone()))
            .collect()
    };
    group.bench_function("live", |b| {
        b.iter_batched(
            fresh,
            |mut states| {
                for (contact, state) in contacts.iter().zip(&mut states) {
                    for (at, class) in &contact.events {
                        state.apply_unique(&engine, *at, class);
                        state.advance_to(&engine, *at);
                    }
                }
                states
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("live+triggers", |b| {
        b.iter_batched(
            || -> Vec<ContactState> {
                fresh()
                    .into_iter()
                    .map(ContactState::recording_triggers)
                    .collect()
            },
            |mut states| {
                let mut fired = 0usize;
                for (contact, state) in contacts.iter().zip(&mut states) {
                    for (at, class) in &contact.events {
                        state.apply_unique(&engine, *at, class);
                        state.advance_to(&engine, *at);
                    }
                    fired += state.take_fired().len();
                }
                (states, fired)
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("bulk", |b| {
        b.iter_batched(
            fresh,
            |mut states| {
                for (contact, state) in contacts.iter().zip(&mut states) {
                    for (at, class) in &contact.events {
                        state.apply_unique(&engine, *at, class);
                    }
                    state.advance_to(&engine, AS_OF);
                }
                states
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("result", |b| {
        let mut states = fresh();
        for (contact, state) in contacts.iter().zip(&mut states) {
            for (at, class) in &contact.events {
                state.apply_unique(&engine, *at, class);
            }
            state.advance_to(&engine, AS_OF);
        }
        // Throughput here is events per second of scored history: the result of every
        // contact, with its explanation, from its settled state.
        b.iter(|| states.iter().map(|s| s.result(&engine).score).sum::<i64>())
    });
    group.finish();

    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(events));
    group.bench_function("score", |b| {
        b.iter(|| {
            let mut total = 0i64;
            for contact in &contacts {
                let result = engine.score_classified(
                    contact.attributes.clone(),
                    contact.events.iter().map(|(t, c)| (*t, c)),
                    Vec::new(),
                    &[],
                    AS_OF,
                );
                total += result.score;
            }
            total
        })
    });
    group.finish();

    let lines: Vec<String> = {
        let config = leadscore_generate::Config {
            contacts: 200,
            seed: 2,
            ..leadscore_generate::Config::default()
        };
        let (mut a, mut e, mut o) = (Vec::new(), Vec::new(), Vec::new());
        let _ = leadscore_generate::generate(&config, &mut a, &mut e, &mut o);
        String::from_utf8_lossy(&e)
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("parse+classify", |b| {
        b.iter(|| {
            let mut matched = 0usize;
            for line in &lines {
                if let Ok(message) = parse_message(line)
                    && let Some(class) = engine.classify(message.event_name(), &message)
                {
                    matched += class.rules.len();
                }
            }
            matched
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = engine_benches
}
criterion_main!(benches);
