//! apigw-admin
