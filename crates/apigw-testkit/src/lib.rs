//! apigw-testkit
