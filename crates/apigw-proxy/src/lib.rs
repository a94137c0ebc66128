//! apigw-proxy
