package io.zkha.e2e;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

/**
 * A small stateful streaming job for zkha's end-to-end tests: a rate-limited counting source
 * (its position is checkpointed split state), a running sum per key (keyed {@code ValueState})
 * and a discarding sink. Checkpoints every {@code --checkpoint-ms} (default 500 ms).
 *
 * <p>Arguments: {@code [--name NAME] [--rate RECORDS_PER_SECOND] [--checkpoint-ms MS]}.
 */
public final class CountingJob {
    private CountingJob() {}

    public static void main(String[] args) throws Exception {
        String name = "zkha-e2e-counting";
        long rate = 100;
        long checkpointMs = 500;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--name" -> name = args[i + 1];
                case "--rate" -> rate = Long.parseLong(args[i + 1]);
                case "--checkpoint-ms" -> checkpointMs = Long.parseLong(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.enableCheckpointing(checkpointMs);
        GeneratorFunction<Long, Long> identity = index -> index;
        DataGeneratorSource<Long> source = new DataGeneratorSource<>(
                identity, Long.MAX_VALUE, RateLimiterStrategy.perSecond(rate), Types.LONG);
        env.fromSource(source, WatermarkStrategy.noWatermarks(), "counting-source")
                .keyBy(v -> v % 4)
                .map(new RunningSum())
                .name("keyed-sum")
                .sinkTo(new DiscardingSink<>())
                .name("discard");
        env.execute(name);
    }

    /** The running sum of each key, in keyed state. */
    static final class RunningSum extends RichMapFunction<Long, Long> {
        private transient ValueState<Long> sum;

        @Override
        public void open(OpenContext context) {
            sum = getRuntimeContext().getState(new ValueStateDescriptor<>("sum", Types.LONG));
        }

        @Override
        public Long map(Long value) throws Exception {
            Long current = sum.value();
            long next = (current == null ? 0 : current) + value;
            sum.update(next);
            return next;
        }
    }
}
