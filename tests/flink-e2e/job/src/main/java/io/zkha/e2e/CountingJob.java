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
 * and a discarding sink. Checkpoints every {@code --checkpoint-ms} (default 500 ms). Unbounded,
 * or with {@code --count N} a bounded job that finishes after N records.
 *
 * <p>Arguments: {@code [--name NAME] [--rate RECORDS_PER_SECOND] [--checkpoint-ms MS] [--count N]}.
 * Java 11 class files, for Flink 1.20 to 2.3 (compiled against each version's flink-dist).
 */
public final class CountingJob {
    private CountingJob() {}

    public static void main(String[] args) throws Exception {
        String name = "zkha-e2e-counting";
        long rate = 100;
        long checkpointMs = 500;
        long count = Long.MAX_VALUE;
        for (int i = 0; i + 1 < args.length; i += 2) {
            String value = args[i + 1];
            switch (args[i]) {
                case "--name":
                    name = value;
                    break;
                case "--rate":
                    rate = Long.parseLong(value);
                    break;
                case "--checkpoint-ms":
                    checkpointMs = Long.parseLong(value);
                    break;
                case "--count":
                    count = Long.parseLong(value);
                    break;
                default:
                    throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.enableCheckpointing(checkpointMs);
        GeneratorFunction<Long, Long> identity = index -> index;
        DataGeneratorSource<Long> source = new DataGeneratorSource<>(
                identity, count, RateLimiterStrategy.perSecond(rate), Types.LONG);
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
