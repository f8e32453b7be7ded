"""The permissions each Meta login asks for, from Meta's IG User and content-publishing references."""

from __future__ import annotations

# What a Facebook Login token must hold to publish (``account check`` and ``doctor`` look for these).
FACEBOOK_PUBLISH_SCOPES: tuple[str, ...] = (
    "instagram_basic",
    "instagram_content_publish",
    "pages_read_engagement",
)
# What the Facebook Login dialog asks for: the above, the Page list, Pages owned by a Business Portfolio, and
# comments (a post's first comment: Meta's IG Media comments edge needs instagram_manage_comments).
FACEBOOK_SCOPES: tuple[str, ...] = (
    *FACEBOOK_PUBLISH_SCOPES,
    "pages_show_list",
    "business_management",
    "instagram_manage_comments",
)
# Also needed when the person's role on the Page comes through Business Manager (Meta: ads_management or
# ads_read; the read-only one is enough for publishing).
BUSINESS_MANAGER_SCOPES: tuple[str, ...] = ("ads_read",)
# What an Instagram Login token must hold to publish. Meta lists a token's permissions only in the code
# exchange's answer ("Business Login for Instagram"; no debug_token on graph.instagram.com), so
# ``account connect`` checks them there, once.
INSTAGRAM_PUBLISH_SCOPES: tuple[str, ...] = ("instagram_business_basic", "instagram_business_content_publish")
INSTAGRAM_SCOPES: tuple[str, ...] = (
    *INSTAGRAM_PUBLISH_SCOPES,
    "instagram_business_manage_comments",  # the first comment
)
