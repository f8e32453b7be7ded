"""Local wire-level fakes of the services postpilot talks to (OpenAI Images, Cloudinary upload, the Graph API).

Each fake is a real HTTP server on 127.0.0.1 so the real SDK clients are exercised end to end."""
