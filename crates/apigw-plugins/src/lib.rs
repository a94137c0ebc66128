//! apigw-plugins
