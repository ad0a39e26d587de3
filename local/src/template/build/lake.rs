//! The warehouse: `AWS::S3::Bucket`, `AWS::Glue::Database` and `AWS::Glue::Table` (the
//! columns), `AWS::KinesisFirehose::DeliveryStream` (buffering, partitioning, Parquet
//! conversion) and `AWS::Athena::NamedQuery`. Properties that only matter on AWS
//! (encryption, lifecycle, public access, logging) are accepted and not modelled.

use super::*;
use crate::warehouse::schema::{Column, GlueType};

impl Builder<'_, '_> {
    pub(super) fn bucket(&self, r: &Y) -> Result<Bucket, TemplateError> {
        self.props(
            r,
            &[
                "BucketName",
                "BucketEncryption",
                "PublicAccessBlockConfiguration",
                "OwnershipControls",
                "VersioningConfiguration",
                "LifecycleConfiguration",
                "Tags",
            ],
        )?;
        Ok(Bucket {
            logical_id: self.id.to_owned(),
            name: self.reference()?,
        })
    }

    /// Checked and resolved only: the database's name is what tables and queries use.
    pub(super) fn glue_database(&self, r: &Y) -> Result<(), TemplateError> {
        let j = self.props(r, &["CatalogId", "DatabaseInput"])?;
        let p = Obj::of(&j, self.loc())?;
        let input = p
            .obj("DatabaseInput")?
            .ok_or_else(|| p.loc.key("DatabaseInput").err("missing (required)"))?;
        input.check(&["Name", "Description", "Parameters", "LocationUri"])?;
        input.req_str("Name")?;
        Ok(())
    }

    pub(super) fn glue_table(&self, r: &Y) -> Result<GlueTable, TemplateError> {
        let j = self.props(r, &["CatalogId", "DatabaseName", "TableInput"])?;
        let p = Obj::of(&j, self.loc())?;
        let database = p.req_str("DatabaseName")?;
        let input = p
            .obj("TableInput")?
            .ok_or_else(|| p.loc.key("TableInput").err("missing (required)"))?;
        input.check(&[
            "Name",
            "Description",
            "TableType",
            "Parameters",
            "PartitionKeys",
            "StorageDescriptor",
        ])?;
        let storage = input
            .obj("StorageDescriptor")?
            .ok_or_else(|| input.loc.key("StorageDescriptor").err("missing (required)"))?;
        storage.check(&[
            "Location",
            "InputFormat",
            "OutputFormat",
            "SerdeInfo",
            "Columns",
            "Compressed",
            "Parameters",
        ])?;
        let columns = |o: &Obj<'_>, key: &str| -> Result<Vec<Column>, TemplateError> {
            let mut out = Vec::new();
            for (i, c) in o.list(key)?.into_iter().flatten().enumerate() {
                let c = Obj::of(c, o.loc.key(&format!("{key}[{i}]")))?;
                c.check(&["Name", "Type", "Comment"])?;
                let ty = c.req_str("Type")?;
                out.push(Column {
                    name: c.req_str("Name")?,
                    ty: GlueType::parse(&ty).map_err(|e| c.loc.key("Type").err(e.to_string()))?,
                });
            }
            Ok(out)
        };
        Ok(GlueTable {
            logical_id: self.id.to_owned(),
            schema: TableSchema {
                database,
                table: input.req_str("Name")?,
                columns: columns(&storage, "Columns")?,
                partition_keys: columns(&input, "PartitionKeys")?,
            },
            location: storage.req_str("Location")?,
        })
    }

    pub(super) fn named_query(&self, r: &Y) -> Result<NamedQuery, TemplateError> {
        let j = self.props(
            r,
            &[
                "Name",
                "Description",
                "Database",
                "WorkGroup",
                "QueryString",
            ],
        )?;
        let p = Obj::of(&j, self.loc())?;
        Ok(NamedQuery {
            logical_id: self.id.to_owned(),
            name: p.str("Name")?.unwrap_or_else(|| self.id.to_owned()),
            description: p.str("Description")?,
            database: p.req_str("Database")?,
            query: p.req_str("QueryString")?,
        })
    }

    pub(super) fn delivery_stream(
        &self,
        r: &Y,
        stack: &Stack,
    ) -> Result<DeliveryStream, TemplateError> {
        let j = self.props(
            r,
            &[
                "DeliveryStreamName",
                "DeliveryStreamType",
                "DeliveryStreamEncryptionConfigurationInput",
                "ExtendedS3DestinationConfiguration",
                "Tags",
            ],
        )?;
        let p = Obj::of(&j, self.loc())?;
        match p.str("DeliveryStreamType")?.as_deref() {
            None | Some("DirectPut") => {}
            Some(other) => {
                return Err(p.loc.key("DeliveryStreamType").err(format!(
                    "{other} is {NOT_SUPPORTED} (only DirectPut, what EventBridge puts to)"
                )));
            }
        }
        let s3 = p
            .obj("ExtendedS3DestinationConfiguration")?
            .ok_or_else(|| {
                p.loc
                    .key("ExtendedS3DestinationConfiguration")
                    .err("missing: the local stack delivers to S3 only")
            })?;
        s3.check(&[
            "BucketARN",
            "RoleARN",
            "BufferingHints",
            "CompressionFormat",
            "Prefix",
            "ErrorOutputPrefix",
            "DynamicPartitioningConfiguration",
            "ProcessingConfiguration",
            "DataFormatConversionConfiguration",
            "CloudWatchLoggingOptions",
            "FileExtension",
        ])?;
        let raw_s3 = raw_at(r, &["Properties", "ExtendedS3DestinationConfiguration"]);
        let bucket = self.bucket_of(
            stack,
            raw_s3.and_then(|s| s.get("BucketARN")),
            s3.get("BucketARN"),
            &s3.loc.key("BucketARN"),
        )?;
        let (mut buffer_interval, mut buffer_size_mb) = (Duration::from_secs(300), 5);
        if let Some(h) = s3.obj("BufferingHints")? {
            h.check(&["IntervalInSeconds", "SizeInMBs"])?;
            if let Some(s) = h.uint("IntervalInSeconds", 0, 900)? {
                buffer_interval = Duration::from_secs(s.into());
            }
            if let Some(mb) = h.uint("SizeInMBs", 1, 128)? {
                buffer_size_mb = mb;
            }
        }
        let partitioning = match s3.obj("DynamicPartitioningConfiguration")? {
            None => false,
            Some(d) => {
                d.check(&["Enabled", "RetryOptions"])?;
                d.bool("Enabled")?.unwrap_or(false)
            }
        };
        let partition_query = match partitioning {
            false => None,
            true => Some(metadata_query(&s3)?),
        };
        let conversion = self.conversion(&s3, raw_s3, stack)?;
        let compression = s3
            .str("CompressionFormat")?
            .unwrap_or_else(|| "UNCOMPRESSED".into());
        if conversion.is_some() && compression != "UNCOMPRESSED" {
            return Err(s3
                .loc
                .key("CompressionFormat")
                .err("must be UNCOMPRESSED when record format conversion is enabled (as on AWS)"));
        }
        Ok(DeliveryStream {
            logical_id: self.id.to_owned(),
            name: self.reference()?,
            arn: self.attr("Arn")?,
            bucket,
            prefix: s3.str("Prefix")?.unwrap_or_default(),
            error_prefix: s3.str("ErrorOutputPrefix")?.unwrap_or_default(),
            file_extension: s3.str("FileExtension")?.unwrap_or_default(),
            buffer_interval,
            buffer_size_mb,
            partition_query,
            conversion,
        })
    }

    fn conversion(
        &self,
        s3: &Obj<'_>,
        raw_s3: Option<&Y>,
        stack: &Stack,
    ) -> Result<Option<Conversion>, TemplateError> {
        let Some(c) = s3.obj("DataFormatConversionConfiguration")? else {
            return Ok(None);
        };
        c.check(&[
            "Enabled",
            "InputFormatConfiguration",
            "OutputFormatConfiguration",
            "SchemaConfiguration",
        ])?;
        if c.bool("Enabled")? == Some(false) {
            return Ok(None);
        }
        fn required<'j>(o: &Obj<'j>, k: &str) -> Result<&'j J, TemplateError> {
            o.get(k)
                .ok_or_else(|| o.loc.key(k).err("missing (required)"))
        }
        let input = Obj::of(
            required(&c, "InputFormatConfiguration")?,
            c.loc.key("InputFormatConfiguration"),
        )?;
        input.check(&["Deserializer"])?;
        let de = Obj::of(
            required(&input, "Deserializer")?,
            input.loc.key("Deserializer"),
        )?;
        de.check(&["HiveJsonSerDe"])?;
        let mut timestamp_formats = Vec::new();
        if let Some(hive) = de.obj("HiveJsonSerDe")? {
            hive.check(&["TimestampFormats"])?;
            for (i, f) in hive
                .list("TimestampFormats")?
                .into_iter()
                .flatten()
                .enumerate()
            {
                let loc = hive.loc.key(&format!("TimestampFormats[{i}]"));
                timestamp_formats.push(scalar_string(f, &loc)?);
            }
        }
        let output = Obj::of(
            required(&c, "OutputFormatConfiguration")?,
            c.loc.key("OutputFormatConfiguration"),
        )?;
        output.check(&["Serializer"])?;
        let ser = Obj::of(
            required(&output, "Serializer")?,
            output.loc.key("Serializer"),
        )?;
        ser.check(&["ParquetSerDe"])?;
        let parquet = ser.obj("ParquetSerDe")?.ok_or_else(|| {
            ser.loc
                .key("ParquetSerDe")
                .err("missing: the local stack converts to Parquet only")
        })?;
        parquet.check(&[
            "Compression",
            "BlockSizeBytes",
            "PageSizeBytes",
            "EnableDictionaryCompression",
            "MaxPaddingBytes",
            "WriterVersion",
        ])?;
        let compression = parquet
            .str("Compression")?
            .unwrap_or_else(|| "SNAPPY".into());
        if !["SNAPPY", "GZIP", "UNCOMPRESSED"].contains(&compression.as_str()) {
            return Err(parquet
                .loc
                .key("Compression")
                .err(format!("{compression} is not SNAPPY, GZIP or UNCOMPRESSED")));
        }
        let schema = Obj::of(
            required(&c, "SchemaConfiguration")?,
            c.loc.key("SchemaConfiguration"),
        )?;
        schema.check(&[
            "CatalogId",
            "DatabaseName",
            "TableName",
            "Region",
            "RoleARN",
            "VersionId",
        ])?;
        let raw_table = raw_s3.and_then(|s| {
            raw_at(
                s,
                &[
                    "DataFormatConversionConfiguration",
                    "SchemaConfiguration",
                    "TableName",
                ],
            )
        });
        let (database, name) = (
            schema.req_str("DatabaseName")?,
            schema.req_str("TableName")?,
        );
        let table = raw_table
            .and_then(Ctx::ref_target)
            .filter(|id| stack.glue_table(id).is_some())
            .or_else(|| {
                stack
                    .glue_tables
                    .iter()
                    .find(|t| t.schema.database == database && t.schema.table == name)
                    .map(|t| t.logical_id.clone())
            })
            .ok_or_else(|| {
                schema.loc.key("TableName").err(format!(
                    "{database}.{name} is not an AWS::Glue::Table of this template"
                ))
            })?;
        Ok(Some(Conversion {
            table,
            timestamp_formats,
            compression,
        }))
    }

    /// The template bucket a destination names.
    fn bucket_of(
        &self,
        stack: &Stack,
        raw: Option<&Y>,
        resolved: Option<&J>,
        loc: &Loc,
    ) -> Result<String, TemplateError> {
        let arns: Vec<(&str, String)> = stack
            .buckets
            .iter()
            .map(|b| (b.logical_id.as_str(), format!("arn:aws:s3:::{}", b.name)))
            .collect();
        let candidates = arns.iter().map(|(id, arn)| (*id, arn.as_str()));
        arn_target(raw, resolved, loc, candidates)?
            .map_err(|arn| loc.err(format!("'{arn}' is not an S3 bucket of this template")))
    }
}

/// The `MetadataExtractionQuery` of the one `MetadataExtraction` processor (JQ).
fn metadata_query(s3: &Obj<'_>) -> Result<String, TemplateError> {
    let loc = s3.loc.key("ProcessingConfiguration");
    let processing = s3.obj("ProcessingConfiguration")?.ok_or_else(|| {
        loc.err("missing: dynamic partitioning needs a MetadataExtraction processor")
    })?;
    processing.check(&["Enabled", "Processors"])?;
    for (i, proc) in processing
        .list("Processors")?
        .into_iter()
        .flatten()
        .enumerate()
    {
        let proc = Obj::of(proc, processing.loc.key(&format!("Processors[{i}]")))?;
        proc.check(&["Type", "Parameters"])?;
        let kind = proc.req_str("Type")?;
        if kind != "MetadataExtraction" {
            return Err(proc
                .loc
                .key("Type")
                .err(format!("processor {kind} is {NOT_SUPPORTED}")));
        }
        let mut query = None;
        for (j, param) in proc.list("Parameters")?.into_iter().flatten().enumerate() {
            let param = Obj::of(param, proc.loc.key(&format!("Parameters[{j}]")))?;
            param.check(&["ParameterName", "ParameterValue"])?;
            match param.req_str("ParameterName")?.as_str() {
                "MetadataExtractionQuery" => query = Some(param.req_str("ParameterValue")?),
                "JsonParsingEngine" => {
                    let engine = param.req_str("ParameterValue")?;
                    if engine != "JQ-1.6" {
                        return Err(param
                            .loc
                            .key("ParameterValue")
                            .err(format!("JSON parsing engine {engine} is {NOT_SUPPORTED}")));
                    }
                }
                other => {
                    return Err(param
                        .loc
                        .key("ParameterName")
                        .err(format!("{other} is {NOT_SUPPORTED}")));
                }
            }
        }
        if let Some(q) = query {
            return Ok(q);
        }
    }
    Err(loc.err("no MetadataExtraction processor with a MetadataExtractionQuery"))
}
