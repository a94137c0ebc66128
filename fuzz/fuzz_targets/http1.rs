#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| apigw_fuzz::http1(data));
