"""Small pools the tests share."""

# One mocked expert (LiteLLM's mock_response; api_base points nowhere and is never called): the router
# asks Cheap once, then answers. tests/data/checkpoints-0.1 was written with exactly this pool.
ONE_MOCK_EXPERT = {
    "router": {"model": "openai/mock-router", "api_base": "http://127.0.0.1:9", "grammar": False,
               "mock_response": "<think>one fact</think>\n<search>Cheap: when was it built?</search>",
               "price": {"input_per_m": 0.1, "output_per_m": 0.1}},
    "experts": [{"name": "Cheap", "model": "openai/cheap", "api_base": "http://127.0.0.1:9", "mock_response": "1889.",
                 "description": "cheap", "price": {"input_per_m": 0.1, "output_per_m": 0.2}}],
    "limits": {"budget_usd": 0.05, "max_rounds": 2},
}
