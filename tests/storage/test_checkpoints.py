"""Checkpoints: the product names points; listeners that someone installed hear them."""

from pnas.checkpoints import POINTS, add_checkpoint_listener, checkpoint, remove_checkpoint_listener


def test_listeners_hear_every_point_until_removed():
    checkpoint("between_rounds")  # nobody listens: nothing happens
    heard, also = [], []
    first = add_checkpoint_listener(heard.append)
    add_checkpoint_listener(also.append)
    for point in POINTS:
        checkpoint(point)
    remove_checkpoint_listener(first)
    checkpoint("predictor_fit")
    remove_checkpoint_listener(also.append)
    remove_checkpoint_listener(also.append)  # not installed any more: ignored
    checkpoint("predictor_fit")
    assert heard == list(POINTS)
    assert also == [*POINTS, "predictor_fit"]


def test_a_listener_may_remove_itself_while_being_called():
    heard = []

    def once(point):
        heard.append(point)
        remove_checkpoint_listener(once)

    add_checkpoint_listener(once)
    checkpoint("result_commit")
    checkpoint("result_commit")
    assert heard == ["result_commit"]
