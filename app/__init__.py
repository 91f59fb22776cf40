"""tvbridge: TradingView alert webhooks → ProjectX Gateway orders, with an order journal."""

__version__ = "0.1.0"
