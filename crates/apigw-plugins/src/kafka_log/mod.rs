//! kafka_log: push a log of every call to a Kafka broker (`guide-policy_kafka_log_push.rst`,
//! SPEC §2).
//!
//! ```json
//! {"broker_list": ["127.0.0.1:9092"], "topic": "apigw-calls", "key": "",
//!  "max_retry_count": 0, "retry_backoff": 1,
//!  "sasl_config": {"security_protocol": "PLAINTEXT", "sasl_mechanisms": "PLAIN"},
//!  "meta_config": {"system": {"start_time": true, "request_id": true}}}
//! ```
//!
//! `sasl_password` (and an `ssl_ca_content` that holds a private key) are stored but never
//! returned: responses show [`MASK`](crate::registry::MASK); sending the mask back on update
//! keeps the stored value.
//!
//! At run time (docs/kafka_log.md) each plug-in instance has one producer task behind a bounded
//! outbox. Calls only ever copy their finished message into the outbox's next request: a slow,
//! full or dead broker never delays or fails them; what does not fit, or cannot be delivered
//! after the retries, is dropped and counted.
//!
//! # Layout
//! - `config`: the content model ([`Config`] and its parts), its validation, canonical form and
//!   secret masking.
//! - `runtime`: the running plug-in ([`KafkaLog`]): admission while the brokers are down, and
//!   the delivery counters with their metrics.
//! - `outbox`: the messages waiting, written by the calls into the requests the producer sends.
//! - `message`: one call's message ([`CallRecord`] in, JSON out), written field by field and
//!   kept within [`MESSAGE_LIMIT`].
//! - `producer`: the producer task: the partition leaders, batches, retries.
//! - `link`: one broker connection: TLS, version negotiation, SASL, requests.
//! - `sasl`: the PLAIN and SCRAM exchanges.
//! - `wire`: the Kafka requests and answers the producer uses, and the record batch.

mod config;
mod link;
mod message;
mod outbox;
mod producer;
mod runtime;
mod sasl;
mod wire;

pub use config::{CallData, Config, CustomAuthorizer, MetaConfig, SaslConfig, SYSTEM_FIELDS};
pub use message::{CallRecord, BODY_LIMIT, FIELD_LIMIT, MESSAGE_LIMIT};
pub use outbox::QUEUE_CAPACITY;
pub use producer::{Producers, ATTEMPT_TIMEOUT, BATCH, BATCH_BYTES, LINGER};
pub use runtime::{KafkaLog, Stats, PROBE_INTERVAL_MS};
