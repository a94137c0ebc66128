//! An HTTP answer as the tests read it: status, headers, text, and the body parsed as JSON.

use serde_json::Value;

/// An HTTP answer, body parsed as JSON when it is JSON.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    /// Reads a whole answer.
    pub async fn read(resp: reqwest::Response) -> Result<Self, reqwest::Error> {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Resp {
            status,
            headers,
            text,
            json,
        })
    }

    /// The APIG error code of an error answer.
    pub fn code(&self) -> &str {
        self.json["error_code"].as_str().unwrap_or("")
    }
    /// The APIG error message of an error answer.
    pub fn msg(&self) -> &str {
        self.json["error_msg"].as_str().unwrap_or("")
    }
}
